"""The saved capacity: where it is kept, written, read back and printed.

A capacity search (``gameday.capsearch``) saves its record to
``<state_dir>/capacity.json`` (or the experiment's ``capacity_file``) and to its
run directory. ``load_capacity`` gives it to the experiments that load a share
of it (sustained-80, the spike), refusing a record that holds no capacity of the
target's (the search was limited by the load generator, or found no knee up to
its ``max_orders_per_s``) and one older than the target's last deployment (the
target file's ``deployment``: a capacity says nothing of code that since changed).

The record (JSON; kept stable for comparisons across sessions)::

    {"method": "search", "orders_per_s": 187.4,       # the capacity, null when none
     "interval_orders_per_s": [180.0, 190.0],         # last good, first bad offered
     "knee_reached": true, "knee_reason": "P99 412 ms over 200 ms",
     "first_bad": {"offered_per_s": 200.0, "reason": "..."},
     "limited_by": "target",                          # or "load generator", "max_orders_per_s"
     "generator_limit_orders_per_s": null,            # what the generator sent when it was
     "summary": "...", "steps": [...], "remeasured": [...], "settings": {...},
     "measured_at": "2026-11-30T08:00:00+00:00", "duration_s": 412.0,
     "deployment": {"stamp": "...", "deployed_at": "..."}, "run_dir": "..."}
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gameday.errors import GamedayError
from gameday.target import Target

__all__ = [
    "FILE_NAME",
    "CapacityError",
    "capacity_path",
    "find_saved",
    "format_record",
    "load_capacity",
    "save_capacity",
    "stamp",
]

FILE_NAME = "capacity.json"


class CapacityError(GamedayError):
    """A capacity test is misconfigured, or no usable capacity figure is saved or measurable."""


def capacity_path(target: Target, configured: str | None = None) -> Path:
    """Where the capacity figure is kept: ``configured``, else ``<state_dir>/capacity.json``."""
    return Path(configured) if configured else target.state_dir / FILE_NAME


def save_capacity(record: dict[str, Any], paths: list[Path]) -> None:
    """Write the figure and its evidence atomically to every path."""
    text = json.dumps(record, indent=2)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def load_capacity(path: Path, target: Target) -> dict[str, Any]:
    """The searched capacity saved in ``path``, if it is the target's capacity and no older
    than its last deployment; CapacityError telling what to do otherwise."""
    record = find_saved(path, target)
    if record is None:
        raise CapacityError(
            f"no capacity figure is saved in {path}: run capacity-search first "
            "(chaos run experiments/capacity-search.json)"
        )
    return record


def find_saved(path: Path, target: Target) -> dict[str, Any] | None:
    """As ``load_capacity``, but None when nothing is saved in ``path``."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise CapacityError(
            f"capacity file {path} is unreadable ({exc}): run capacity-search again"
        ) from None
    if not isinstance(record, dict) or record.get("method") != "search":
        raise CapacityError(
            f"capacity file {path} was not written by a capacity search: run capacity-search"
        )
    figure = record.get("orders_per_s")
    if not isinstance(figure, int | float) or figure <= 0:
        raise CapacityError(
            f"capacity file {path} holds no capacity of the target's: "
            f"{record.get('summary') or 'no orders_per_s'}; run capacity-search again"
        )
    _refuse_stale(record, path, target)
    return record


def _refuse_stale(record: dict[str, Any], path: Path, target: Target) -> None:
    """A capacity measured before the target's last deployment says nothing about it."""
    deployment = target.deployment
    if deployment is None:
        return
    measured = datetime.fromisoformat(record.get("measured_at") or "1970-01-01T00:00:00+00:00")
    saved_stamp = (record.get("deployment") or {}).get("stamp")
    if measured < deployment.deployed_at or saved_stamp not in (None, deployment.stamp):
        on = f" on deployment {saved_stamp[:12]}" if saved_stamp else ""
        raise CapacityError(
            f"the capacity in {path} was measured at {measured.isoformat()}{on}, older than "
            f"the target's last deployment ({deployment.stamp[:12]} at "
            f"{deployment.deployed_at.isoformat()}): run capacity-search again"
        )


COLUMNS = (  # heading, width, the row's figure
    ("step", 4, lambda r: r["step"]),
    ("phase", 10, lambda r: r["phase"]),
    ("offered", 8, lambda r: r["offered_per_s"]),
    ("sent", 8, lambda r: r["sent_per_s"]),
    ("served", 8, lambda r: r["served_per_s"]),
    ("p50 ms", 7, lambda r: r["p50_ms"]),
    ("p99 ms", 8, lambda r: r["p99_ms"]),
    ("fail", 7, lambda r: r["failure_ratio"]),
    ("verdict", 9, lambda r: r["verdict"]),
    ("workers", 7, lambda r: r["generator"]["workers"]),
    ("cpu max", 7, lambda r: r["generator"]["cpu_cores_max"]),
    ("cpu all", 7, lambda r: r["generator"]["locust_cpu_cores"]),
    ("lag p90", 7, lambda r: r["generator"]["loop_lag_ms_p90"]),
    ("missed", 6, lambda r: r["generator"]["pace_missed"]),
)


def format_record(record: dict[str, Any]) -> str:
    """A search's capacity, why it ended there, and every step with the generator's figures
    (CPU in cores: the busiest Locust process, then all of them; lag in ms), for a terminal."""
    lines = [record.get("summary", "")]
    lines.append(" ".join(f"{heading:>{width}}" for heading, width, _ in COLUMNS) + "  why")
    for row in record.get("steps", []):
        cells = [f"{_shown(figure(row)):>{width}}" for _, width, figure in COLUMNS]
        lines.append(" ".join(cells) + f"  {row.get('reason') or ''}")
    if record.get("measured_at"):
        lines.append(
            f"Measured {record['measured_at']} in {record.get('duration_s')} s; "
            f"evidence in {record.get('run_dir')}"
        )
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def stamp() -> str:
    """Now, UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
