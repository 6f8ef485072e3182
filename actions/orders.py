"""Chaos Toolkit action: orders with diverse drinks and stores, valid and invalid.

For metric-cardinality experiments: every valid drink x store combination of
the contract, mixed with a share of orders naming unknown drinks or stores
(each a fresh random value) that the target must refuse with 422 without
creating a metric series. Loopback only (like every probe), bounded by ``duration_s``
and by ``MAX_ORDERS`` in all.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from gameday.httpcheck import HttpCheckError, call, require_loopback
from probes.http import PRICES, STORES

__all__ = ["place_diverse_orders"]
logger = logging.getLogger("chaostoolkit")

MAX_DURATION_S = 3600
MAX_WORKERS = 32
MAX_RATE = 2000
MAX_ORDERS = 100_000  # rate x duration: each is a real order, kept by design


def place_diverse_orders(
    duration_s: float = 60,
    invalid_share: float = 0.5,
    rate_per_s: float = 50,
    workers: int = 4,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """POST about ``rate_per_s`` orders a second for ``duration_s``: valid ones cycle through
    every drink x store, a share ``invalid_share`` name unknown drinks or stores. Returns
    counts by kind and status."""
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ActivityFailed(f"duration_s must be in (0, {MAX_DURATION_S}], got {duration_s!r}")
    if not 0 <= invalid_share <= 1:
        raise ActivityFailed(f"invalid_share must be in [0, 1], got {invalid_share!r}")
    if not 0 < rate_per_s <= MAX_RATE:
        raise ActivityFailed(f"rate_per_s must be in (0, {MAX_RATE}], got {rate_per_s!r}")
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ActivityFailed(f"workers must be a whole number from 1 to {MAX_WORKERS}")
    if rate_per_s * duration_s > MAX_ORDERS:
        raise ActivityFailed(
            f"rate_per_s {rate_per_s} x duration_s {duration_s} would place "
            f"{rate_per_s * duration_s:,.0f} orders: at most {MAX_ORDERS:,} orders (each is a "
            "real order); lower the rate or the duration"
        )
    with engine_call("place orders", configuration) as target:
        url = target.api_url
        require_loopback(url, target.allow_remote_target)
    deadline = time.monotonic() + duration_s
    with ThreadPoolExecutor(workers) as pool:
        pace = workers / rate_per_s
        results = list(
            pool.map(lambda n: _worker(url, n, deadline, invalid_share, pace), range(workers))
        )
    counts: dict[str, dict[str, int]] = {"valid": {}, "invalid": {}}
    for result in results:
        for kind, statuses in result.items():
            for status, n in statuses.items():
                counts[kind][status] = counts[kind].get(status, 0) + n
    logger.info("diverse orders: %s", counts)
    return {
        "duration_s": duration_s,
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "rate_per_s": rate_per_s,
        "combinations": len(PRICES) * len(STORES),
    }


def _worker(url: str, number: int, deadline: float, invalid_share: float, pace: float) -> dict:
    rng = random.Random(number)
    combos = [(drink, store) for drink in PRICES for store in STORES]
    counts: dict[str, dict[str, int]] = {"valid": {}, "invalid": {}}
    sent = number
    while time.monotonic() < deadline:
        began = time.monotonic()
        invalid = rng.random() < invalid_share
        drink, store = combos[sent % len(combos)]
        if invalid:
            unknown = f"x-{uuid.uuid4().hex[:12]}"
            drink, store = (unknown, store) if rng.random() < 0.5 else (drink, unknown)
        body = {
            "drink": drink,
            "store": store,
            "price": round(rng.uniform(3.0, 6.5), 2),
            "timestamp": datetime.now(UTC).isoformat(),
        }
        try:
            status = str(call(url, "POST", "/api/v1/order", 5, body).status)
        except HttpCheckError:
            status = "0"
        kind = counts["invalid" if invalid else "valid"]
        kind[status] = kind.get(status, 0) + 1
        sent += 1
        time.sleep(max(0.0, pace - (time.monotonic() - began)))
    return counts
