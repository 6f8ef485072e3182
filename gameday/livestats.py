"""Statistics over the live file Locust writes while it runs (``live.jsonl``).

Each line covers one second (see ``workloads/instrumentation.py``): request
counts, failures, status codes and a latency histogram per request name.
``window`` merges the newest seconds; ``per_window`` cuts the whole run into
consecutive windows, for stability checks. Event lines (no ``t``: the
self-stop, the final ``quit`` with Locust's exit code) are skipped by the
readers of seconds; ``outcome`` reads them.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from gameday.errors import GamedayError

__all__ = [
    "LiveStatsError",
    "merge",
    "outcome",
    "per_window",
    "percentile",
    "read_seconds",
    "window",
]

SIGNIFICANT_DIGITS = 3
_TAIL_BLOCK = 64 * 1024


class LiveStatsError(GamedayError):
    """The live file is missing, unreadable, or the request is malformed."""


def read_seconds(live_file: Path | str, last: int | None = None) -> list[dict[str, Any]]:
    """The per-second records, oldest first (only roughly the ``last`` ones if given).

    A line still being written (no newline yet, or cut short) is skipped.
    """
    path = Path(live_file)
    try:
        raw = _tail(path, last) if last else path.read_bytes()
    except FileNotFoundError:
        raise LiveStatsError(
            f"live statistics file {path} does not exist: is the load running "
            "(gameday.locustrun.start / actions.load.start_load)?"
        ) from None
    records = []
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("t"), int):
            records.append(record)
    return records


def outcome(live_file: Path | str) -> dict[str, Any]:
    """How the run ended: ``{"finished", "exit_code", "stop_reason"}`` from its event lines.

    ``finished`` is False (and the rest None) while Locust has not quit.
    """
    facts: dict[str, Any] = {"finished": False, "exit_code": None, "stop_reason": None}
    try:
        raw = _tail(Path(live_file), 4)
    except FileNotFoundError:
        raise LiveStatsError(f"live statistics file {live_file} does not exist") from None
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if record.get("event") == "self-stop":
            facts["stop_reason"] = record.get("reason")
        elif record.get("event") == "quit":
            facts.update(
                finished=True,
                exit_code=record.get("exit_code"),
                stop_reason=record.get("stop_reason") or facts["stop_reason"],
            )
    return facts


def merge(records: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    """Sum the counts, codes and histograms of ``records`` (one request name, or all)."""
    count = failures = 0
    codes: Counter[str] = Counter()
    hist: Counter[str] = Counter()
    for record in records:
        for request_name, stats in record.get("by_name", {}).items():
            if name is not None and request_name != name:
                continue
            count += stats.get("count", 0)
            failures += stats.get("failures", 0)
            codes.update(stats.get("codes", {}))
            hist.update(stats.get("hist", {}))
    return {"count": count, "failures": failures, "codes": dict(codes), "hist": dict(hist)}


def percentile(hist: dict[str, int], fraction: float) -> float | None:
    """The latency (ms) below which ``fraction`` of the requests fall; None without requests.

    Nearest rank over the buckets, reported at the bucket's middle: within 0.5 %.
    """
    if not 0 < fraction <= 1:
        raise LiveStatsError(f"percentile fraction must be in (0, 1], got {fraction}")
    buckets = sorted((float(key), n) for key, n in hist.items() if n > 0)
    total = sum(n for _, n in buckets)
    if not total:
        return None
    rank = math.ceil(fraction * total)
    seen = 0
    for lower, n in buckets:
        seen += n
        if seen >= rank:
            return round(lower + _bucket_width(lower) / 2, 3)
    return None  # unreachable: the last bucket completes the total


def window(live_file: Path | str, seconds: int, name: str | None = None) -> dict[str, Any]:
    """Facts over the newest ``seconds`` complete seconds of the live file."""
    _check_seconds(seconds)
    records = read_seconds(live_file, last=seconds + 2)
    if not records:
        return _facts([], seconds, name, None, None)
    newest = max(record["t"] for record in records)
    chosen = [record for record in records if record["t"] > newest - seconds]
    return _facts(chosen, seconds, name, newest - seconds + 1, newest)


def per_window(live_file: Path | str, seconds: int, name: str | None = None) -> list[dict]:
    """The whole run cut into consecutive windows of ``seconds``, oldest first."""
    _check_seconds(seconds)
    records = read_seconds(live_file)
    if not records:
        return []
    first = min(record["t"] for record in records)
    groups: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["t"] - first) // seconds, []).append(record)
    return [
        _facts(
            groups.get(index, []),
            seconds,
            name,
            first + index * seconds,
            first + (index + 1) * seconds - 1,
        )
        for index in range(max(groups) + 1)
    ]


def _facts(
    records: list[dict[str, Any]],
    seconds: int,
    name: str | None,
    start: int | None,
    end: int | None,
) -> dict[str, Any]:
    merged = merge(records, name)
    covered = len({record["t"] for record in records}) or seconds
    count = merged["count"]
    return {
        "name": name,
        "from_t": start,
        "to_t": end,
        "count": count,
        "rps": round(count / covered, 3),
        "failures": merged["failures"],
        "failure_ratio": round(merged["failures"] / count, 6) if count else 0.0,
        "p50_ms": percentile(merged["hist"], 0.50),
        "p95_ms": percentile(merged["hist"], 0.95),
        "p99_ms": percentile(merged["hist"], 0.99),
        "codes": merged["codes"],
    }


def _bucket_width(lower_ms: float) -> float:
    micros = round(lower_ms * 1000)
    return 10 ** max(0, len(str(micros)) - SIGNIFICANT_DIGITS) / 1000


def _check_seconds(seconds: int) -> None:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
        raise LiveStatsError(f"window must be a whole number of seconds >= 1, got {seconds!r}")


def _tail(path: Path, lines: int) -> bytes:
    """The end of ``path`` holding at least ``lines`` newlines (or the whole file)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = position = handle.tell()
        chunk = b""
        while position > 0 and chunk.count(b"\n") <= lines:
            position = max(0, position - _TAIL_BLOCK)
            handle.seek(position)
            chunk = handle.read(end - position)
        return chunk
