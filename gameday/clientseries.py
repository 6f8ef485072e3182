"""What the load saw, second by second, from a run's ``live.jsonl``.

``per_second`` gives answered/s, failed/s by status code (``0``: no answer) and the
P50/P99 of each second (requests still open count at their age). ``outage`` is the
outage as the load saw it: from the first failed answer after a fault began to the
end of the last second with a failed answer. ``p99_over`` is the P99 over chosen
seconds (the fault windows).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gameday import livestats

__all__ = ["find_live_file", "outage", "p99_over", "per_second"]

GOOD_CODES = {"200", "201", "101"}


def find_live_file(run_dir: Path) -> Path | None:
    """The experiment's own load (not a session's background load)."""
    candidate = run_dir / "locust" / "live.jsonl"
    if candidate.exists():
        return candidate
    return next(iter(sorted(run_dir.rglob("live.jsonl"))), None)


def per_second(live_file: Path) -> dict[str, Any]:
    """``{"t": [...], "answered": [...], "failed": {code: [...]}, "p50": [...], "p99": [...]}``."""
    records = livestats.read_seconds(live_file)
    series: dict[str, Any] = {"t": [], "answered": [], "failed": {}, "p50": [], "p99": []}
    for index, record in enumerate(records):
        merged = livestats.merge([record])
        series["t"].append(record["t"])
        bad = {code: n for code, n in merged["codes"].items() if code not in GOOD_CODES}
        series["answered"].append(merged["count"] - sum(bad.values()))
        for code, count in bad.items():
            series["failed"].setdefault(code, [0] * len(records))[index] += count
        series["p50"].append(livestats.percentile(merged["hist"], 0.50))
        series["p99"].append(livestats.percentile(merged["hist"], 0.99))
    return series


def outage(series: dict[str, Any], fault_start: float | None) -> dict[str, Any] | None:
    """First failed answer after ``fault_start`` to the end of the last failed second."""
    if fault_start is None or not series["t"]:
        return None
    failing = [
        t
        for index, t in enumerate(series["t"])
        if t >= int(fault_start) and any(counts[index] for counts in series["failed"].values())
    ]
    if not failing:
        return {"seconds": 0, "first_failure": None, "last_failure": None}
    return {
        "seconds": failing[-1] + 1 - failing[0],
        "first_failure": failing[0],
        "last_failure": failing[-1],
    }


def p99_over(live_file: Path, windows: Iterable[tuple[float, float]]) -> float | None:
    """The P99 (ms) of the requests of the seconds inside ``windows``."""
    spans = [(int(start), int(end)) for start, end in windows]
    if not spans:
        return None
    records = [
        r for r in livestats.read_seconds(live_file) if any(a <= r["t"] <= b for a, b in spans)
    ]
    if not records:
        return None
    return livestats.percentile(livestats.merge(records)["hist"], 0.99)
