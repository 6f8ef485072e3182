"""Game days over time: ``runs/history.jsonl``, and what changed since the last session.

Each session appends one line: its target, plan, score and, per experiment, the
figures worth comparing (``FIGURES``). ``compare`` sets each experiment's figures
beside those of the last session on the same target that ran it, and flags a
regression when a figure got worse by more than ``ratio`` (20 %) and by at least the
figure's own minimum (5 ms for latencies, 0.5 s for durations, 1 order/s for capacity).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gameday import clientseries
from gameday.verdict import Verdict

__all__ = ["FIGURES", "append", "compare", "figures", "last_session"]

# figure: (unit, worse when it is higher?, minimum change that counts)
FIGURES = {
    "p99_during_fault_ms": ("ms", True, 5.0),
    "outage_s": ("s", True, 0.5),
    "recovery_s": ("s", True, 0.5),
    "capacity_orders_per_s": ("orders/s", False, 1.0),
}
RATIO = 0.2


def figures(verdict: Verdict) -> dict[str, Any]:
    """The comparable figures of one experiment's run (None where it has none)."""
    live = clientseries.find_live_file(verdict.run_dir)
    windows = [(w.start, w.end) for w in verdict.fault_windows]
    found: dict[str, Any] = {"outcome": verdict.outcome, "recovery_s": verdict.recovery_s}
    found["p99_during_fault_ms"] = clientseries.p99_over(live, windows) if live else None
    start = verdict.fault_windows[0].start if verdict.fault_windows else None
    seen = clientseries.outage(clientseries.per_second(live), start) if live else None
    found["outage_s"] = seen["seconds"] if seen else None
    try:
        saved = json.loads((verdict.run_dir / "capacity.json").read_text())
        found["capacity_orders_per_s"] = saved.get("orders_per_s")
    except (FileNotFoundError, json.JSONDecodeError):
        found["capacity_orders_per_s"] = None
    return found


def last_session(path: Path, target: str, experiment: str, before: str) -> dict[str, Any] | None:
    """The newest line of ``path`` for ``target`` that ran ``experiment``, other than ``before``."""
    if not path.exists():
        return None
    found = None
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        ran = entry.get("experiments", {}).get(experiment)
        if entry.get("target") == target and entry.get("session") != before and ran:
            found = entry
    return found


def compare(
    path: Path, target: str, session: str, current: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per experiment: the previous session and, per figure, before, now, change, regression."""
    result = {}
    for name, now in current.items():
        previous = last_session(path, target, name, session)
        if previous is None:
            result[name] = {"previous": None, "figures": {}}
            continue
        before = previous["experiments"][name]
        result[name] = {
            "previous": previous["session"],
            "figures": {
                key: _change(key, before.get(key), now.get(key))
                for key in FIGURES
                if before.get(key) is not None and now.get(key) is not None
            },
        }
    return result


def append(path: Path, entry: dict[str, Any]) -> None:
    """Add one session's line to the history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"at": time.time(), **entry}) + "\n")


def _change(key: str, before: float, now: float) -> dict[str, Any]:
    unit, higher_is_worse, minimum = FIGURES[key]
    worse_by = (now - before) if higher_is_worse else (before - now)
    regression = worse_by > RATIO * abs(before) and worse_by >= minimum
    return {
        "before": before,
        "now": now,
        "unit": unit,
        "change_pct": round(100 * (now - before) / before, 1) if before else None,
        "regression": regression,
    }
