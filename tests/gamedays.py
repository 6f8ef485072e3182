"""Helpers for game-day tests: small experiments, plans, and `gameday` run as a person would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.chaosrun import KILL_SWITCH_GUARD, READY, act, experiment, kill, py, start

REPO = Path(__file__).resolve().parent.parent
GAMEDAY = str(Path(sys.executable).parent / "gameday")


def held_fault(title: str, hold_s: float = 0, safeguards: bool = False) -> dict[str, Any]:
    """Kill the aggregator, hold the fault ``hold_s``, start it again (no load: seconds)."""
    body = experiment(
        [kill("aggregator", pause_after=hold_s), start("aggregator")],
        [start("aggregator")],
        safeguards=[KILL_SWITCH_GUARD] if safeguards else None,
    )
    return {**body, "title": title}


def _window(name: str, **arguments: Any) -> dict[str, Any]:
    provider = py("probes.load", "load_within", window_s=6, **arguments)
    return {"type": "probe", "name": name, "provider": provider, "pauses": {"before": 6}}


def slowed(mode: str) -> dict[str, Any]:
    """Orders under load, a baseline window, the aggregator killed, a window judged against
    the baseline (P99 <= 3 x the baseline's, floor 50 ms). A 60 ms latency toxic on the
    API's PostgreSQL connections: ``none``, ``during`` the fault, or ``both`` windows."""
    load = act(
        "start-load", "actions.load", "start_load", pause_after=5,
        users=10, spawn_rate=10, duration_s=120, user_classes="RushHourCustomer=1",
    )  # fmt: skip
    toxic = act(
        f"slow-postgres-{mode}", "actions.network", "add_latency",
        dependency="postgresql", latency_ms=60,
    )  # fmt: skip
    remove = act(
        "remove-toxics", "actions.network", "remove_network_faults", dependency="postgresql"
    )
    stop = act("stop-load", "actions.load", "stop_load")
    method = [
        load,
        *([toxic] if mode == "both" else []),
        _window("load-is-the-baseline", save_as_baseline=True),
        kill("aggregator"),
        *([toxic] if mode == "during" else []),
        _window(
            "p99-near-the-baseline-during-the-fault",
            p99_ms={"max_ratio_of_baseline": 3, "floor_ms": 50},
        ),
        start("aggregator"),
        remove,
        stop,
    ]
    body = experiment(method, [start("aggregator"), {"ref": "remove-toxics"}, {"ref": "stop-load"}])
    return {**body, "title": f"Orders judged against their baseline (toxic: {mode})"}


def ready_only(title: str) -> dict[str, Any]:
    """Nothing but the steady state: passes in a second."""
    body = experiment([{**READY, "name": "still-ready"}], [])
    return {**body, "title": title}


def deviating(title: str) -> dict[str, Any]:
    """Expects /readyz to name Redis while Redis is up: deviates in a second, changes nothing."""
    probe = {
        "type": "probe",
        "name": "readyz-names-redis",
        "provider": py("probes.http", "answers_within", answer="readyz-names-redis"),
    }
    return {**experiment([probe], []), "title": title}


def write_plan(directory: Path, experiments: list[dict[str, Any]], **keys: Any) -> Path:
    """Write each experiment (``{"body", "name", "vars"?}``) and a plan that runs them."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for item in experiments:
        path = item.get("path")
        if path is None:
            path = directory / f"{item['name']}.json"
            path.write_text(json.dumps(item["body"], indent=1))
        entry = {"experiment": str(path)}
        entry.update({k: item[k] for k in ("vars", "profile", "weight") if k in item})
        entries.append(entry)
    plan = {"session": {"title": "test"}, "gate": {"settle_s": 1, "timeout_s": 60}, **keys}
    plan["experiments"] = entries
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def launch(args: list[str], output: Path) -> subprocess.Popen:
    """`gameday <args>` in the background, its output (plain lines) to ``output``."""
    handle = open(output, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [GAMEDAY, *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def gameday(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GAMEDAY, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def session_dir(runs: Path) -> Path:
    (found,) = sorted(runs.glob("gameday-*"))[-1:]
    return found
