"""Chaos Toolkit probes of the target's public HTTP API (the target contract only).

Every call is bounded by ``timeout_s``. Probes that may meet an API that does
not answer at all take ``raise_on_unavailable``: True raises ActivityFailed
naming the URL and cause; False reports status 0 instead (for tolerances).
"""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import UTC, datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday.errors import GamedayError
from gameday.httpcheck import Answer, HttpCheckError, InvalidCall, api_url, call
from gameday.target import TargetError

__all__ = [
    "dashboard",
    "dashboard_staleness",
    "endpoint_latency",
    "place_order",
    "readyz",
    "readyz_status",
    "time_to_recover",
]
logger = logging.getLogger("chaostoolkit")

PRICES = {"cappuccino": (4.50, 6.50), "americano": (3.00, 4.50), "latte": (4.00, 6.00)}
STORES = ("uptown", "downtown", "central", "southend")
LATENCY_METHODS = ("GET", "HEAD")
MAX_SAMPLES = 1000
MAX_DEADLINE_S = 600


def readyz(
    timeout_s: float = 2,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """GET /readyz: ``{"status", "body", "elapsed_ms"}`` (503 names the failing dependency)."""
    answer = _call(configuration, "GET", "/readyz", timeout_s, raise_on_unavailable)
    return {"status": answer.status, "body": answer.body, "elapsed_ms": answer.elapsed_ms}


def readyz_status(
    timeout_s: float = 2,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """The status of /readyz alone (200 ready, 503 a dependency down, 0 no answer)."""
    return _call(configuration, "GET", "/readyz", timeout_s, raise_on_unavailable).status


def dashboard(
    timeout_s: float = 5,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """GET /api/dashboard: ``{"status", "body"|"reason", "elapsed_ms"}``."""
    answer = _call(configuration, "GET", "/api/dashboard", timeout_s, raise_on_unavailable)
    key = "body" if answer.status == 200 else "reason"
    return {"status": answer.status, key: answer.body, "elapsed_ms": answer.elapsed_ms}


def place_order(
    drink: str = "latte",
    store: str = "central",
    price: float | None = None,
    timeout_s: float = 5,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """POST one real order: ``{"status", "id", "elapsed_ms"}`` (id None unless acknowledged)."""
    order = _order(drink, store, price)
    answer = _call(configuration, "POST", "/api/v1/order", timeout_s, raise_on_unavailable, order)
    body = answer.body if isinstance(answer.body, dict) else {}
    result = {"status": answer.status, "id": body.get("id"), "elapsed_ms": answer.elapsed_ms}
    if answer.status != 200:
        result["reason"] = answer.body
    return result


def endpoint_latency(
    path: str = "/api/dashboard",
    method: str = "GET",
    samples: int = 20,
    timeout_s: float = 5,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """``samples`` sequential requests: p50/p95/p99/max (ms) and the statuses seen.

    A request that got no HTTP answer counts as status ``"0"`` with the time it took.
    """
    method = method.upper()
    if method not in LATENCY_METHODS:
        raise ActivityFailed(
            f"endpoint_latency measures {', '.join(LATENCY_METHODS)} only, not {method}: "
            "use place_order to time orders"
        )
    if not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ActivityFailed(
            f"samples must be a whole number from 1 to {MAX_SAMPLES}, got {samples!r}"
        )
    url = _api_url(configuration)
    timings: list[float] = []
    statuses: dict[str, int] = {}
    for _ in range(samples):
        started = time.perf_counter()
        try:
            answer = call(url, method, path, timeout_s)
            status, elapsed = answer.status, answer.elapsed_ms
        except InvalidCall as exc:
            raise ActivityFailed(str(exc)) from None
        except HttpCheckError:
            status, elapsed = 0, (time.perf_counter() - started) * 1000
        timings.append(elapsed)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    timings.sort()
    return {
        "path": path,
        "samples": samples,
        "p50_ms": _nearest_rank(timings, 0.50),
        "p95_ms": _nearest_rank(timings, 0.95),
        "p99_ms": _nearest_rank(timings, 0.99),
        "max_ms": round(timings[-1], 3),
        "statuses": statuses,
    }


def dashboard_staleness(
    timeout_s: float = 5, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """How old the newest order of the dashboard is, by the server's own clock.

    ``newest_recent_order_age_s`` is None when ``recent_orders`` is empty.
    """
    answer = _call(configuration, "GET", "/api/dashboard", timeout_s, True)
    body = answer.body
    if answer.status != 200 or not isinstance(body, dict) or "server_timestamp" not in body:
        raise ActivityFailed(
            f"dashboard of {_api_url(configuration)} answered {answer.status} without a "
            f"server_timestamp: {str(body)[:200]}"
        )
    server_time = _parse_time(body["server_timestamp"], "server_timestamp")
    stamps = [
        _parse_time(order["timestamp"], "recent_orders timestamp")
        for order in body.get("recent_orders") or []
        if isinstance(order, dict) and order.get("timestamp")
    ]
    newest = max(stamps) if stamps else None
    return {
        "newest_recent_order_age_s": (
            round((server_time - newest).total_seconds(), 3) if newest else None
        ),
        "newest_recent_order_timestamp": newest.isoformat() if newest else None,
        "server_timestamp": server_time.isoformat(),
        "recent_orders": len(stamps),
    }


def time_to_recover(
    deadline_s: float = 60,
    poll_s: float = 0.25,
    timeout_s: float = 2,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> float:
    """Seconds until /readyz answers 200 AND a real order is acknowledged.

    Raises ActivityFailed past ``deadline_s`` naming what still failed.
    """
    if not 0 < deadline_s <= MAX_DEADLINE_S or not 0 < poll_s <= deadline_s:
        raise ActivityFailed(
            f"deadline_s must be in (0, {MAX_DEADLINE_S}] and poll_s in (0, deadline_s], "
            f"got {deadline_s!r} and {poll_s!r}"
        )
    url = _api_url(configuration)
    started = time.monotonic()
    while True:
        try:
            last = _recovery_failure(url, min(timeout_s, deadline_s))
        except InvalidCall as exc:
            raise ActivityFailed(str(exc)) from None
        elapsed = time.monotonic() - started
        if last is None:
            logger.info(f"{url} recovered in {elapsed:.2f} s")
            return round(elapsed, 3)
        if elapsed + poll_s > deadline_s:
            raise ActivityFailed(f"{url} did not recover within {deadline_s} s: {last}")
        time.sleep(poll_s)


def _recovery_failure(url: str, timeout_s: float) -> str | None:
    """What still fails (readiness, then a real order), or None once both succeed."""
    try:
        ready = call(url, "GET", "/readyz", timeout_s)
        if ready.status != 200:
            return f"/readyz answered {ready.status}: {str(ready.body)[:200]}"
        order = call(url, "POST", "/api/v1/order", timeout_s, _order("latte", "central", None))
    except HttpCheckError as exc:
        return str(exc)
    if order.status != 200 or not isinstance(order.body, dict) or "id" not in order.body:
        return f"an order answered {order.status}: {str(order.body)[:200]}"
    return None


def _order(drink: str, store: str, price: float | None) -> dict[str, Any]:
    if drink not in PRICES:
        raise ActivityFailed(f"unknown drink {drink!r}: the contract knows {', '.join(PRICES)}")
    if store not in STORES:
        raise ActivityFailed(f"unknown store {store!r}: the contract knows {', '.join(STORES)}")
    if price is None:
        price = random.uniform(*PRICES[drink])
    if not isinstance(price, int | float) or price <= 0:
        raise ActivityFailed(f"price must be a positive number of dollars, got {price!r}")
    return {
        "drink": drink,
        "store": store,
        "price": round(float(price), 2),
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _api_url(configuration: Configuration) -> str:
    try:
        return api_url(configuration)
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(str(exc)) from None


def _call(
    configuration: Configuration,
    method: str,
    path: str,
    timeout_s: float,
    raise_on_unavailable: bool,
    json_body: Any = None,
) -> Answer:
    url = _api_url(configuration)
    try:
        return call(url, method, path, timeout_s, json_body)
    except InvalidCall as exc:
        raise ActivityFailed(str(exc)) from None
    except HttpCheckError as exc:
        if raise_on_unavailable:
            raise ActivityFailed(str(exc)) from None
        return Answer(0, str(exc), 0.0)


def _nearest_rank(sorted_values: list[float], fraction: float) -> float:
    return round(sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)], 3)


def _parse_time(value: str, what: str) -> datetime:
    """An ISO 8601 time; one without an offset is UTC (the contract's convention)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ActivityFailed(f"dashboard {what} {value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
