"""The files of a load run and the summary made of them when it stops.

Under ``<run_dir>/locust/``: ``locust.log`` (the workers log there too),
``live.jsonl``, ``acked.jsonl``, ``locust_stats.csv`` (and the other CSVs),
``stats.json``, ``report.html``, ``summary.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gameday import livestats

__all__ = ["run_files", "summarise"]


def run_files(run_dir: Path) -> dict[str, Path]:
    """Where each file of the run in ``run_dir`` goes (``dir``: their directory)."""
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
        "summary": base / "summary.json",
    }


def summarise(run: dict[str, Any], stopped: dict[str, Any]) -> dict[str, Any]:
    """The summary of a stopped ``run``: how it stopped, how it ended, its totals."""
    files = run_files(Path(run["run_dir"]))
    return {
        "run_dir": run["run_dir"],
        "pid": run["pid"],
        **stopped,
        **livestats.outcome(files["live"]),
        "totals": _totals(files),
    }


def _totals(files: dict[str, Path]) -> dict[str, Any]:
    """Final totals from Locust's stats.json, plus the number of acknowledged orders.

    stats.json is written at shutdown; locust_stats.csv may miss the last second.
    """
    try:
        entries = json.loads(files["json"].read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        totals: dict[str, Any] = {"error": f"{files['json']} was not written: see {files['log']}"}
    else:
        totals = _request_totals(entries)
    try:
        with open(files["acked"], "rb") as handle:
            totals["acknowledged_orders"] = sum(1 for _ in handle)
    except FileNotFoundError:
        totals["acknowledged_orders"] = 0
    return totals


def _request_totals(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests, failures, rate and percentiles over every entry of Locust's stats.json."""
    times: dict[int, int] = {}
    for entry in entries:
        for ms, n in entry["response_times"].items():
            times[int(ms)] = times.get(int(ms), 0) + n
    requests = sum(entry["num_requests"] for entry in entries)
    span = (
        max((e["last_request_timestamp"] or 0) for e in entries)
        - min(e["start_time"] for e in entries)
        if entries
        else 0
    )
    return {
        "requests": requests,
        "failures": sum(entry["num_failures"] for entry in entries),
        "rps": round(requests / span, 3) if span > 0 else 0.0,
        **{f"p{round(q * 100)}_ms": _rank(times, q) for q in (0.50, 0.95, 0.99)},
    }


def _rank(times: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile of Locust's rounded response times (ms)."""
    target_rank = math.ceil(fraction * sum(times.values()))
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= target_rank:
            return ms
    return None
