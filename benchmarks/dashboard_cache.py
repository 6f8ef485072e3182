"""Dashboard latency with a warm cache (the aggregator's keys in Redis) and a cold one
(keys gone), through the real API.

Stops the aggregator (recorded in the fault ledger) so nothing refills the cache, times
``--requests`` sequential GET /api/dashboard on one keep-alive connection with the keys
present, drops the contract's keys, times as many again, then starts the aggregator (its
first pass refills the cache) and resolves the ledger entries.

    .venv/bin/python benchmarks/dashboard_cache.py [--requests N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actions.cache import drop_dashboard_cache  # noqa: E402
from gameday import services  # noqa: E402
from gameday.httpcheck import api_url  # noqa: E402
from gameday.target import load_target  # noqa: E402


def timings(session: requests.Session, url: str, count: int) -> list[float]:
    """Milliseconds of ``count`` dashboard requests (each must answer 200)."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=5)
        found.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return sorted(found)


def percentile(values: list[float], fraction: float) -> float:
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def describe(label: str, values: list[float]) -> str:
    return (
        f"{label}: p50 {statistics.median(values):.2f} ms, p99 {percentile(values, 0.99):.2f} ms, "
        f"max {values[-1]:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    target = load_target()
    url = f"{api_url()}/api/dashboard"
    services.stop("aggregator", target)
    try:
        with requests.Session() as session:
            timings(session, url, 50)  # warm the connection and the API's code paths
            warm = timings(session, url, args.requests)
            dropped = drop_dashboard_cache()
            cold = timings(session, url, args.requests)
    finally:
        services.start("aggregator", target)
    print(
        f"{args.requests} sequential requests each, aggregator stopped; "
        f"{dropped['deleted']} keys dropped between the two"
    )
    print(describe("warm cache (keys present)", warm))
    print(describe("cold cache (keys absent)", cold))
    print(
        f"cold / warm: p50 {statistics.median(cold) / statistics.median(warm):.2f}x, "
        f"p99 {percentile(cold, 0.99) / percentile(warm, 0.99):.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
