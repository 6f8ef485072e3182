"""Load during an experiment: Locust in its own process group, never outliving the run.

``start`` checks its inputs, spawns ``python -m locust`` headless in a new
session, records it in the fault ledger (kind ``locust``) and in
``<state_dir>/load/current.json``, then waits for the first live line.
``stop`` interrupts it (Locust then writes its final CSV, JSON and HTML),
kills the group if it lingers, and resolves the ledger entry. ``revert`` is
the ledger's idempotent backstop.

Files of a run, under ``<run_dir>/locust/``: ``locust.log``, ``live.jsonl``,
``acked.jsonl``, ``locust_stats.csv`` (and the other CSVs), ``stats.json``,
``report.html``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from gameday import ledger
from gameday.errors import GamedayError
from gameday.httpcheck import HttpCheckError, require_loopback
from gameday.target import Target

__all__ = [
    "DEFAULT_USER_CLASSES",
    "LOCUSTFILE",
    "USER_CLASSES",
    "LoadError",
    "NotRunning",
    "current",
    "latest",
    "format_user_classes",
    "parse_user_classes",
    "resolve_run_dir",
    "revert",
    "start",
    "stop",
]

LOCUSTFILE = Path(__file__).resolve().parent.parent / "workloads" / "locustfile.py"
USER_CLASSES = (
    "CoffeeConsumer", "DowntownRegular", "CappuccinoLover", "RushHourCustomer", "DashboardViewer",
)
DEFAULT_USER_CLASSES = "CoffeeConsumer=10,RushHourCustomer=5,DowntownRegular=3"
RUN_DIR_ENV = "COFFEE_CHAOS_RUN_DIR"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 3
GRACE_S = 15.0
MAX_USERS = 5000
MAX_RUN_TIME_S = 24 * 3600


class LoadError(GamedayError):
    """The load could not be started or stopped, or its inputs are wrong."""


class NotRunning(LoadError):
    """No load run is recorded for this target."""


def parse_user_classes(spec: str) -> dict[str, int]:
    """``"A=10,B=5"`` -> ``{"A": 10, "B": 5}``, checking names and weights."""
    chosen: dict[str, int] = {}
    for part in filter(None, (item.strip() for item in str(spec).split(","))):
        name, _, weight = part.partition("=")
        try:
            chosen[name.strip()] = int(weight.strip() or "1")
        except ValueError:
            raise LoadError(
                f"user class weight {weight!r} of {name.strip()!r} is not an integer: "
                f"write e.g. {DEFAULT_USER_CLASSES!r}"
            ) from None
    return _check_user_classes(chosen)


def format_user_classes(user_classes: dict[str, int]) -> str:
    """The ``COFFEE_USER_CLASSES`` form of ``user_classes``."""
    return ",".join(f"{name}={weight}" for name, weight in user_classes.items())


def resolve_run_dir(configuration: dict[str, Any] | None = None) -> Path:
    """$COFFEE_CHAOS_RUN_DIR, else configuration ``run_dir``, else ``runs/<UTC stamp>``."""
    chosen = os.environ.get(RUN_DIR_ENV) or (configuration or {}).get("run_dir")
    if not chosen:
        chosen = Path("runs") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(chosen).resolve()


def current(target: Target) -> dict[str, Any]:
    """The recorded load run of ``target``; NotRunning if there is none."""
    path = _current_file(target)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NotRunning(
            f"no load run is recorded in {path}: start one with actions.load.start_load"
        ) from None
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"{path} is unreadable ({exc}): stop Locust by hand and delete it"
        ) from None


def latest(target: Target) -> dict[str, Any]:
    """The current run, else the last one stopped; NotRunning if there was none."""
    try:
        return current(target)
    except NotRunning:
        pass
    try:
        return json.loads(_last_file(target).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise NotRunning(
            f"no load run is recorded in {_current_file(target).parent}: "
            "start one with actions.load.start_load, or name the run directory"
        ) from None


def start(
    run_dir: Path | str,
    host: str,
    users: int,
    spawn_rate: float,
    run_time_s: int,
    user_classes: dict[str, int],
    target: Target,
    allow_remote_target: bool = False,
) -> dict[str, Any]:
    """Start Locust headless against ``host``; return once it reports its first second."""
    _check_inputs(host, users, spawn_rate, run_time_s, allow_remote_target)
    classes = _check_user_classes(dict(user_classes))
    if target.kill_switch.exists():
        raise LoadError(
            f"refusing to start load: the kill switch {target.kill_switch} is set; "
            "remove it once the lab is safe"
        )
    _refuse_if_running(target)
    files = _files(Path(run_dir).resolve())
    files["dir"].mkdir(parents=True, exist_ok=True)
    for name in ("live", "acked"):
        files[name].touch()
    env = {
        **os.environ,
        "COFFEE_LIVE_FILE": str(files["live"]),
        "COFFEE_ACKED_FILE": str(files["acked"]),
        "COFFEE_USER_CLASSES": format_user_classes(classes),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{run_time_s}s", "--host", host,
        "--csv", str(files["dir"] / "locust"), "--csv-full-history",
        "--html", str(files["html"]), "--json-file", str(files["dir"] / "stats"),
        "--only-summary", "--stop-timeout", str(STOP_TIMEOUT_S), "--exit-code-on-error", "0",
    ]
    with open(files["log"], "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=files["dir"], start_new_session=True,
        )
    entry_id = ledger.ledger_for(target).record(
        "locust", host,
        {"pid": process.pid, "pgid": process.pid, "run_dir": str(files["dir"].parent)},
        note=f"{users} users, {run_time_s} s, {format_user_classes(classes)}",
    )
    run = {
        "run_dir": str(files["dir"].parent), "pid": process.pid, "host": host,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ledger_id": entry_id, "users": users, "run_time_s": run_time_s,
        "user_classes": classes, "live_file": str(files["live"]),
        "acked_file": str(files["acked"]),
    }
    _write_current(target, run)
    _wait_first_second(process, files, target, entry_id)
    return run


def stop(target: Target) -> dict[str, Any]:
    """Stop the recorded run gracefully; return its files and summary totals."""
    run = current(target)
    outcome = _terminate(run["pid"])
    ledger.ledger_for(target).resolve(run.get("ledger_id", ""))
    try:
        os.replace(_current_file(target), _last_file(target))
    except FileNotFoundError:
        pass  # a concurrent `gameday recover` moved it first
    files = _files(Path(run["run_dir"]))
    return {
        "run_dir": run["run_dir"],
        "pid": run["pid"],
        **outcome,
        "files": {key: str(path) for key, path in files.items() if path.exists()},
        "totals": _totals(files),
    }


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Ledger reverter: stop the recorded Locust group if it is still there (idempotent)."""
    pid = int(entry["revert"]["pid"])
    outcome = _terminate(pid)
    path = _current_file(target)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            os.replace(path, _last_file(target))
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    return {"pid": pid, **outcome}


def _terminate(pid: int) -> dict[str, Any]:
    """SIGINT the Locust process, wait, then SIGKILL its group if anything is left."""
    if not _is_locust(pid):
        _reap(pid)
        return {"stopped": "already gone"}
    os.kill(pid, signal.SIGINT)
    if _wait_gone(pid, GRACE_S):
        return {"stopped": "gracefully"}
    _kill_group(pid)
    if not _wait_gone(pid, 5.0):
        raise LoadError(f"Locust (pid {pid}) survived SIGKILL: kill its process group by hand")
    return {"stopped": "killed"}


def _is_locust(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process whose command line mentions locust."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "locust" in " ".join(
            process.cmdline()
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _is_locust(pid):
            return True
        time.sleep(0.1)
    return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _wait_first_second(
    process: subprocess.Popen, files: dict[str, Path], target: Target, entry_id: str
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if files["live"].stat().st_size > 0:
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    reason = (
        f"exited with code {process.returncode}" if process.poll() is not None
        else f"wrote no live statistics within {STARTUP_TIMEOUT_S:.0f} s"
    )
    _terminate(process.pid)
    ledger.ledger_for(target).resolve(entry_id)
    _current_file(target).unlink(missing_ok=True)
    raise LoadError(f"Locust {reason}; end of {files['log']}:\n{_tail(files['log'])}")


def _check_inputs(
    host: str, users: int, spawn_rate: float, run_time_s: int, allow_remote_target: bool
) -> None:
    if not isinstance(users, int) or isinstance(users, bool) or not 1 <= users <= MAX_USERS:
        raise LoadError(f"users must be a whole number from 1 to {MAX_USERS}, got {users!r}")
    if not isinstance(spawn_rate, int | float) or isinstance(spawn_rate, bool) or spawn_rate <= 0:
        raise LoadError(f"spawn_rate must be a positive number of users per second, got "
                        f"{spawn_rate!r}")
    if (not isinstance(run_time_s, int) or isinstance(run_time_s, bool)
            or not 1 <= run_time_s <= MAX_RUN_TIME_S):
        raise LoadError(
            f"run time must be a whole number of seconds from 1 to {MAX_RUN_TIME_S}, "
            f"got {run_time_s!r}"
        )
    try:
        require_loopback(host, allow_remote_target)
    except HttpCheckError as exc:
        raise LoadError(str(exc)) from None


def _check_user_classes(chosen: dict[str, int]) -> dict[str, int]:
    if not chosen:
        raise LoadError(f"no user class chosen: name some, e.g. {DEFAULT_USER_CLASSES!r}")
    for name, weight in chosen.items():
        if name not in USER_CLASSES:
            raise LoadError(
                f"unknown user class {name!r}: choose among {', '.join(USER_CLASSES)}"
            )
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise LoadError(f"weight of user class {name!r} must be a whole number >= 1, "
                            f"got {weight!r}")
    return chosen


def _refuse_if_running(target: Target) -> None:
    try:
        run = current(target)
    except NotRunning:
        return
    if _is_locust(run["pid"]):
        raise LoadError(
            f"a load run is already going (pid {run['pid']}, {run['run_dir']}): "
            "stop it with actions.load.stop_load or `gameday recover` first"
        )


def _files(run_dir: Path) -> dict[str, Path]:
    base = run_dir / "locust"
    return {
        "dir": base,
        "log": base / "locust.log",
        "live": base / "live.jsonl",
        "acked": base / "acked.jsonl",
        "stats_csv": base / "locust_stats.csv",
        "history_csv": base / "locust_stats_history.csv",
        "failures_csv": base / "locust_failures.csv",
        "json": base / "stats.json",
        "html": base / "report.html",
    }


def _totals(files: dict[str, Path]) -> dict[str, Any]:
    """Final totals from Locust's stats.json, plus the number of acknowledged orders.

    stats.json is written at shutdown; locust_stats.csv may miss the last second.
    """
    totals: dict[str, Any] = {}
    try:
        entries = json.loads(files["json"].read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        entries = None
        totals["error"] = f"{files['json']} was not written: see {files['log']}"
    if entries is not None:
        times: dict[int, int] = {}
        for entry in entries:
            for ms, n in entry["response_times"].items():
                times[int(ms)] = times.get(int(ms), 0) + n
        requests = sum(entry["num_requests"] for entry in entries)
        span = (max((e["last_request_timestamp"] or 0) for e in entries)
                - min(e["start_time"] for e in entries)) if entries else 0
        totals = {
            "requests": requests,
            "failures": sum(entry["num_failures"] for entry in entries),
            "rps": round(requests / span, 3) if span > 0 else 0.0,
            **{f"p{round(q * 100)}_ms": _rank(times, q) for q in (0.50, 0.95, 0.99)},
        }
    try:
        with open(files["acked"], "rb") as handle:
            totals["acknowledged_orders"] = sum(1 for _ in handle)
    except FileNotFoundError:
        totals["acknowledged_orders"] = 0
    return totals


def _rank(times: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile of Locust's rounded response times (ms)."""
    target_rank = math.ceil(fraction * sum(times.values()))
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= target_rank:
            return ms
    return None


def _current_file(target: Target) -> Path:
    return target.state_dir / "load" / "current.json"


def _last_file(target: Target) -> Path:
    return target.state_dir / "load" / "last.json"


def _write_current(target: Target, run: dict[str, Any]) -> None:
    path = _current_file(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=2))
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
