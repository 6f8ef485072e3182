"""Faults as Prometheus series, through node_exporter's textfile collector.

The ledger calls ``recorded`` and ``publish`` on every record and resolve, the
safety control calls ``begin_run``, ``end_method`` and ``end_run``; each rewrites
``<state_dir>/textfile/coffee_chaos.prom`` atomically (temporary file, fsync,
rename) from the ledger itself, so the file says what the ledger holds even after
the runner died, and ``gameday recover`` rewrites it. The series:

- ``coffee_chaos_fault_active{experiment,kind,target,name} 1`` while the ledger
  holds the fault (every kind but ``locust``, which is load, not a fault); ``name``
  is the activity that injected it;
- ``coffee_chaos_faults_total{kind,target}``: faults recorded, ever;
- ``coffee_chaos_experiment_phase{experiment,phase}``: 1 for the current phase, 0
  for the others: ``baseline`` until the first fault, ``fault`` while the ledger
  holds one, ``recovery`` once they are reverted, ``after`` once the method ended;
- ``coffee_chaos_experiment_info{experiment,title} 1`` while an experiment runs.

What the ledger cannot say (the run, each fault's labels, the counts) is kept
beside the file in ``.coffee_chaos.json`` (node_exporter reads only ``*.prom``).
A failure to write is logged, never raised: the series are an observation, and
must not stop a fault from being recorded or reverted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from gameday.errors import GamedayError

__all__ = [
    "PHASES",
    "PROM_FILE",
    "begin_run",
    "end_method",
    "end_run",
    "publish",
    "recorded",
    "set_activity",
    "textfile_dir",
]

logger = logging.getLogger("chaostoolkit")
PROM_FILE = "coffee_chaos.prom"
STATE_FILE = ".coffee_chaos.json"
PHASES = ("baseline", "fault", "recovery", "after")
NOT_FAULTS = ("locust",)
_current = {"activity": ""}


class LedgerLike(Protocol):
    directory: Path

    def entries(self) -> list[dict]: ...


def textfile_dir(book: LedgerLike) -> Path:
    """Where the .prom file goes: ``textfile/`` beside the ledger, in the state directory."""
    return Path(book.directory).parent / "textfile"


def set_activity(name: str | None) -> None:
    """The activity running now in this process: it names the faults it records."""
    _current["activity"] = name or ""


def recorded(book: LedgerLike, entry: dict) -> None:
    """A fault was recorded (before it is injected): label it, count it, publish."""
    if entry.get("kind") in NOT_FAULTS:
        publish(book)
        return
    with _state(book) as state:
        run = state.get("run") or {}
        name = _current["activity"] or f"{entry['kind']}-{entry['subject']}"
        state["faults"][entry["id"]] = {"experiment": run.get("experiment", ""), "name": name}
        key = [entry["kind"], entry["subject"]]
        totals = state["totals"]
        found = next((t for t in totals if t[:2] == key), None)
        if found:
            found[2] += 1
        else:
            totals.append([*key, 1])
        if run:
            run["faulted"] = True


def publish(book: LedgerLike) -> None:
    """Rewrite the .prom file from the ledger (after a resolve, or to recover)."""
    with _state(book):
        pass


def begin_run(book: LedgerLike, experiment: str, title: str) -> None:
    """An experiment was admitted: it is in its baseline until the first fault."""
    with _state(book) as state:
        state["run"] = {"experiment": experiment, "title": title, "ended": False}


def end_method(book: LedgerLike) -> None:
    """The method is over (completed or interrupted): the run is ``after``."""
    with _state(book) as state:
        if state.get("run"):
            state["run"]["ended"] = True


def end_run(book: LedgerLike) -> None:
    """No experiment runs any more (its end, or a recover after a crash)."""
    with _state(book) as state:
        state["run"] = None


@contextmanager
def _state(book: LedgerLike) -> Iterator[dict[str, Any]]:
    """The sidecar state, locked against other writers; both files are rewritten after."""
    directory = textfile_dir(book)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / ".lock", "a")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        logger.warning(f"cannot write the fault series in {directory}: {exc}")
        yield _empty_state()
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _read_state(directory / STATE_FILE)
        yield state
        try:
            entries = [e for e in book.entries() if e.get("kind") not in NOT_FAULTS]
            held = {e["id"] for e in entries}
            state["faults"] = {k: v for k, v in state["faults"].items() if k in held}
            _write_atomically(directory / STATE_FILE, json.dumps(state))
            _write_atomically(directory / PROM_FILE, render(entries, state))
        except (OSError, GamedayError) as exc:
            logger.warning(f"cannot write the fault series in {directory}: {exc}")


def _empty_state() -> dict[str, Any]:
    return {"run": None, "faults": {}, "totals": []}


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return {**_empty_state(), **json.loads(path.read_text())}
    except FileNotFoundError:
        return _empty_state()
    except (json.JSONDecodeError, UnicodeDecodeError):
        logger.warning(f"{path} is unreadable: the fault counts start again from zero")
        return _empty_state()


def render(entries: list[dict], state: dict[str, Any]) -> str:
    """The text exposition of the series (families without samples left out)."""
    run = state.get("run")
    active = set()
    for entry in entries:
        labels = state["faults"].get(entry["id"]) or {}
        name = labels.get("name") or f"{entry['kind']}-{entry['subject']}"
        active.add((labels.get("experiment", ""), entry["kind"], entry["subject"], name))
    families = [
        _family(
            "coffee_chaos_fault_active",
            "gauge",
            "A fault the toolkit injected and has not reverted (the fault ledger holds it).",
            [
                (dict(zip(("experiment", "kind", "target", "name"), key, strict=True)), 1)
                for key in sorted(active)
            ],
        ),
        _family(
            "coffee_chaos_faults_total",
            "counter",
            "Faults the toolkit recorded before injecting them, by kind and target.",
            [({"kind": k, "target": t}, n) for k, t, n in sorted(state["totals"])],
        ),
    ]
    if run:
        phase = _phase(run, bool(entries))
        experiment = run["experiment"]
        families.append(
            _family(
                "coffee_chaos_experiment_phase",
                "gauge",
                "The running experiment's phase: 1 for the current one, 0 for the others.",
                [({"experiment": experiment, "phase": p}, int(p == phase)) for p in PHASES],
            )
        )
        families.append(
            _family(
                "coffee_chaos_experiment_info",
                "gauge",
                "The experiment running now.",
                [({"experiment": experiment, "title": run.get("title", "")}, 1)],
            )
        )
    return "".join(f for f in families if f)


def _phase(run: dict[str, Any], faults_held: bool) -> str:
    if run.get("ended"):
        return "after"
    if faults_held:
        return "fault"
    return "recovery" if run.get("faulted") else "baseline"


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict, int]]) -> str:
    if not samples:
        return ""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
