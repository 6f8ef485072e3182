"""Statistics over the live file Locust writes while it runs (``live.jsonl``).

Each line covers one second (see ``workloads/instrumentation.py``): request
counts, failures, status codes and a latency histogram per request name, plus
the requests started in it and those still open at its end with their ages.
``window`` merges the newest seconds; ``per_window`` cuts the whole run into
consecutive windows, for stability checks.

A request still unanswered at the end of a window is the most important one
in it: ``merge`` counts every request open at the end of the merged seconds
in the latency histogram at its age then (a lower bound of its latency), so a
hang raises the percentiles instead of vanishing from them, and reports how
many were open and the oldest one's age. Event lines (no ``t``: the
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
    "coefficient_of_variation",
    "compare_views",
    "first_window_under",
    "histogram_quantile",
    "merge",
    "nearest_rank",
    "outcome",
    "per_window",
    "percentile",
    "read_seconds",
    "window",
    "windows_before",
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
    """Sum the counts, codes and histograms of ``records`` (one request name, or every HTTP
    request).

    ``count`` is the requests answered; ``hist`` also holds the ``in_flight`` ones,
    open at the end of the newest record, at their age (``open_hist`` holds those alone).
    """
    count = failures = started = 0
    codes: Counter[str] = Counter()
    hist: Counter[str] = Counter()
    for record in records:
        for stats in _named(record, name):
            count += stats.get("count", 0)
            failures += stats.get("failures", 0)
            started += stats.get("started", 0)
            codes.update(stats.get("codes", {}))
            hist.update(stats.get("hist", {}))
    newest = max(records, key=lambda record: record.get("t", 0), default={})
    open_hist: Counter[str] = Counter()
    oldest = 0.0
    for stats in _named(newest, name):
        open_hist.update(stats.get("open_hist", {}))
        oldest = max(oldest, stats.get("oldest_open_ms", 0))
    return {
        "count": count,
        "failures": failures,
        "codes": dict(codes),
        "hist": dict(hist + open_hist),
        "started": started,
        "in_flight": sum(open_hist.values()),
        "oldest_in_flight_ms": oldest or None,
        "open_hist": dict(open_hist),
    }


def _named(record: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    """The statistics of ``name`` in ``record``; None: of every HTTP request (a WebSocket's
    events, request type WS, are not answers: its lags and reconnections have names of their
    own)."""
    by_name = record.get("by_name", {})
    if name is None:
        return [stats for stats in by_name.values() if stats.get("method") != "WS"]
    return [by_name[name]] if name in by_name else []


def nearest_rank(counts: dict[float, int], fraction: float) -> float | None:
    """The smallest value with at least ``fraction`` of the counts at or below it (None if
    empty): the nearest-rank percentile every figure of the toolkit uses."""
    if not 0 < fraction <= 1:
        raise LiveStatsError(f"percentile fraction must be in (0, 1], got {fraction}")
    ordered = sorted((value, n) for value, n in counts.items() if n > 0)
    rank = math.ceil(fraction * sum(n for _, n in ordered))
    seen = 0
    for value, n in ordered:
        seen += n
        if seen >= rank:
            return value
    return None


def percentile(hist: dict[str, int], fraction: float) -> float | None:
    """The latency (ms) below which ``fraction`` of the requests fall; None without requests.

    Nearest rank over the buckets, reported at the bucket's middle: within 0.5 %.
    """
    lower = nearest_rank({float(key): n for key, n in hist.items()}, fraction)
    return None if lower is None else round(lower + _bucket_width(lower) / 2, 3)


def coefficient_of_variation(values: list[float]) -> float:
    """Standard deviation over mean (0 for a zero mean), rounded to 4 places."""
    mean = sum(values) / len(values)
    if not mean:
        return 0.0
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return round(variance**0.5 / mean, 4)


def histogram_quantile(
    cumulative: dict[float, float], fraction: float
) -> tuple[float, list[float]] | None:
    """Prometheus's ``histogram_quantile`` over cumulative buckets (upper bound ms: count):
    the linearly interpolated value and its bucket; None when the buckets are empty."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0
    if total <= 0:
        return None
    rank = fraction * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = cumulative[upper]
        if count >= rank:
            if upper == math.inf:
                return lower, [lower, upper]
            share = (rank - below) / (count - below) if count > below else 1.0
            return round(lower + (upper - lower) * share, 3), [lower, upper]
        lower, below = upper, count
    return None


def compare_views(client_ms: float, server_ms: float, bucket_ms: list[float]) -> str | None:
    """Why the load generator's and the API's figures for one quantile disagree, or None.

    They agree within the width of the server's bucket plus 5 % of the larger figure
    (the histogram only knows the bucket, and the client adds the network trip).
    """
    lower, upper = bucket_ms
    width = (upper - lower) if upper != math.inf else server_ms
    allowed = width + 0.05 * max(client_ms, server_ms)
    if abs(client_ms - server_ms) <= allowed:
        return None
    side = "the load generator saw more" if client_ms > server_ms else "the API saw more"
    return (
        f"the load generator saw {client_ms:g} ms, the API's histogram {server_ms:g} ms "
        f"(bucket {lower:g}-{upper:g} ms): apart by more than a bucket and 5 % ({side}: a "
        "load generator short of CPU, requests waiting before the API sees them, or hanging "
        "after it answered)"
    )


def windows_before(
    records: list[dict[str, Any]], newest: int, window_s: int, count: int, name: str | None
) -> list[dict[str, Any]]:
    """``count`` consecutive windows of ``window_s`` ending at second ``newest``, oldest first."""
    windows = []
    for index in range(count):
        end = newest - index * window_s
        chosen = [r for r in records if end - window_s < r["t"] <= end]
        merged = merge(chosen, name)
        windows.insert(
            0,
            {
                "to_t": end,
                "count": merged["count"],
                "in_flight": merged["in_flight"],
                "failures": merged["failures"],
                "p95_ms": percentile(merged["hist"], 0.95),
                "p99_ms": percentile(merged["hist"], 0.99),
            },
        )
    return windows


def first_window_under(
    records: list[dict[str, Any]],
    starts: range,
    window_s: int,
    p99_ms: float,
    name: str | None,
) -> tuple[int | None, list[float | None]]:
    """The first start second of ``starts`` whose ``window_s`` window has its P99 at most
    ``p99_ms`` (None if none), and the P99 of every window tried, that one last."""
    tried: list[float | None] = []
    for start in starts:
        chosen = [r for r in records if start <= r["t"] < start + window_s]
        p99 = percentile(merge(chosen, name)["hist"], 0.99)
        tried.append(p99)
        if p99 is not None and p99 <= p99_ms:
            return start, tried
    return None, tried


def window(
    live_file: Path | str, seconds: int, name: str | None = None, timeout_ms: float | None = None
) -> dict[str, Any]:
    """Facts over the newest ``seconds`` complete seconds of the live file.

    With ``timeout_ms`` (the run's request timeout), a request still open and older
    than it counts as a failure with no answer (code "0").
    """
    _check_seconds(seconds)
    records = read_seconds(live_file, last=seconds + 2)
    if not records:
        return _facts([], seconds, name, None, None, timeout_ms)
    newest = max(record["t"] for record in records)
    chosen = [record for record in records if record["t"] > newest - seconds]
    return _facts(chosen, seconds, name, newest - seconds + 1, newest, timeout_ms)


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
    timeout_ms: float | None = None,
) -> dict[str, Any]:
    merged = merge(records, name)
    covered = len({record["t"] for record in records}) or seconds
    stuck = _older_than(merged["open_hist"], timeout_ms)
    if stuck:
        merged["failures"] += stuck
        merged["codes"]["0"] = merged["codes"].get("0", 0) + stuck
    count = merged["count"] + stuck
    return {
        "name": name,
        "from_t": start,
        "to_t": end,
        "count": count,
        "rps": round(merged["count"] / covered, 3),
        "started": merged["started"],
        "started_per_s": round(merged["started"] / covered, 3),
        "in_flight": merged["in_flight"],
        "oldest_in_flight_ms": merged["oldest_in_flight_ms"],
        "failures": merged["failures"],
        "failure_ratio": round(merged["failures"] / count, 6) if count else 0.0,
        "stuck": stuck,
        "p50_ms": percentile(merged["hist"], 0.50),
        "p95_ms": percentile(merged["hist"], 0.95),
        "p99_ms": percentile(merged["hist"], 0.99),
        "codes": merged["codes"],
        "open_hist": merged["open_hist"],
    }


def _older_than(open_hist: dict[str, int], limit_ms: float | None) -> int:
    if not limit_ms:
        return 0
    return sum(n for bucket, n in open_hist.items() if float(bucket) >= limit_ms)


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
