"""Chaos Toolkit probes of the target's public HTTP API (the target contract only).

Every call is bounded by ``timeout_s``. Probes that may meet an API that does
not answer at all take ``raise_on_unavailable``: True raises ActivityFailed
naming the URL and cause; False reports status 0 instead (for tolerances).

``answers_within`` is the one check of what an answer must be during a fault
(``ANSWERS``: an order accepted or refused, the dashboard served or refused,
/readyz naming a dependency); ``sampled_latency`` times sequential requests
and reports the API's own histogram for the same requests beside them.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from prometheus_client.parser import text_string_to_metric_families

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import livestats
from gameday.httpcheck import (
    Answer,
    HttpCheckError,
    InvalidCall,
    api_url,
    call,
    fetch_text,
    recovery_failure,
)

__all__ = [
    "answers_within",
    "dashboard",
    "endpoint_latency",
    "place_order",
    "readyz",
    "readyz_status",
    "sampled_latency",
    "time_to_recover",
]
logger = logging.getLogger("chaostoolkit")

PRICES = {"cappuccino": (4.50, 6.50), "americano": (3.00, 4.50), "latte": (4.00, 6.00)}
STORES = ("uptown", "downtown", "central", "southend")
LATENCY_METHODS = ("GET", "HEAD")
MAX_SAMPLES = 1000
MAX_ORDERS = 200  # a probe that writes is bounded: sampled orders are real orders
MAX_DEADLINE_S = 600
ORDERS = "/api/v1/order"
DASHBOARD = "/api/dashboard"
# The words that name a dependency, or the database's read-only state, in an answer.
DEPENDENCY_WORDS = {
    "postgresql": ("postgres", "database", "db"),
    "redis": ("redis", "cache"),
    "read-only": ("read-only", "read only", "readonly", "read_only"),
}
CONTRACT_FIELDS = {"top5_drinks", "recent_orders", "server_timestamp"}


@dataclass(frozen=True)
class Expected:
    """What one kind of answer must be: its request, statuses, and what its body carries."""

    method: str
    path: str
    statuses: tuple[int, ...]
    carries: str  # "id", "reason", "fields", "names:<dependency>" or "" (anything)
    says: str


ANSWERS = {
    "order-accepted": Expected("POST", ORDERS, (200,), "id", "an order acknowledged with its id"),
    "order-refused": Expected("POST", ORDERS, (503,), "", "an order refused with 503"),
    "order-refused-with-a-reason": Expected(
        "POST", ORDERS, (503,), "reason", "an order refused with 503 and a JSON reason"
    ),
    "dashboard-served": Expected(
        "GET", DASHBOARD, (200,), "fields", "the dashboard served with the contract's fields"
    ),
    "dashboard-refused": Expected(
        "GET", DASHBOARD, (503,), "reason", "the dashboard refused with 503 and a JSON reason"
    ),
    "readyz-answers": Expected("GET", "/readyz", (200, 503), "", "/readyz answering 200 or 503"),
    "readyz-ready": Expected("GET", "/readyz", (200,), "", "/readyz answering 200 (ready)"),
    "readyz-names-redis": Expected(
        "GET", "/readyz", (503,), "names:redis", "/readyz answering 503 naming redis"
    ),
    "readyz-names-postgresql": Expected(
        "GET", "/readyz", (503,), "names:postgresql", "/readyz answering 503 naming the database"
    ),
    "readyz-says-read-only": Expected(
        "GET", "/readyz", (503,), "names:read-only", "/readyz answering 503 saying read-only"
    ),
}


def answers_within(
    answer: str, max_ms: float = 2000, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """One request answers as ``answer`` (a key of ``ANSWERS``) within ``max_ms``: never a
    500, a hang or a wrong status. Places a real order for the order answers."""
    expected = ANSWERS.get(answer)
    if expected is None:
        raise ActivityFailed(f"unknown answer {answer!r}: choose among {', '.join(ANSWERS)}")
    if not 0 < max_ms <= MAX_DEADLINE_S * 1000:
        raise ActivityFailed(f"max_ms must be in (0, {MAX_DEADLINE_S * 1000}], got {max_ms!r}")
    body = _order("latte", "central", None) if expected.method == "POST" else None
    got = _call(configuration, expected.method, expected.path, max_ms / 1000 + 1, False, body)
    result = {"status": got.status, "elapsed_ms": got.elapsed_ms, "body": _short(got.body)}
    if isinstance(got.body, dict) and "id" in got.body:
        result["id"] = got.body["id"]
    if got.status not in expected.statuses or not _carries(got.body, expected.carries):
        raise ActivityFailed(
            unmet(f"{expected.says} within {max_ms} ms", f"{got.status}: {_short(got.body)}")
        )
    if got.elapsed_ms > max_ms:
        raise ActivityFailed(
            unmet(f"{expected.says} within {max_ms} ms", f"after {got.elapsed_ms:.0f} ms")
        )
    return result


def sampled_latency(
    path: str = DASHBOARD,
    samples: int = 20,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """P50/P99 and failure ratio of ``samples`` sequential requests to ``path`` (the order
    path places real orders, at most ``MAX_ORDERS``; any other path is a GET), with the
    P99 the API's own histogram (its /metrics) gives for the same requests."""
    if path == ORDERS and not (isinstance(samples, int) and 1 <= samples <= MAX_ORDERS):
        raise ActivityFailed(
            f"samples must be a whole number from 1 to {MAX_ORDERS} for {ORDERS} (each is a "
            f"real order), got {samples!r}"
        )
    before = _server_buckets(configuration, path)
    if path == ORDERS:
        facts = _sample_orders(samples, configuration)
    else:
        facts = endpoint_latency(path, "GET", samples, configuration=configuration)
    failed = sum(n for code, n in facts["statuses"].items() if code != "200")
    facts["failure_ratio"] = round(failed / samples, 4)
    facts["server_view"] = _sampled_server_view(
        facts["p99_ms"], before, _server_buckets(configuration, path)
    )
    return facts


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
    return _timings(path, timings, statuses)


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
            last = recovery_failure(
                url, min(timeout_s, deadline_s), _order("latte", "central", None)
            )
        except InvalidCall as exc:
            raise ActivityFailed(str(exc)) from None
        elapsed = time.monotonic() - started
        if last is None:
            logger.info(f"{url} recovered in {elapsed:.2f} s")
            return round(elapsed, 3)
        if elapsed + poll_s > deadline_s:
            raise ActivityFailed(f"{url} did not recover within {deadline_s} s: {last}")
        time.sleep(poll_s)


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
    with engine_call("reach the API", configuration):
        return api_url(configuration)


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


def _timings(path: str, timings: list[float], statuses: dict[str, int]) -> dict[str, Any]:
    counts: dict[float, int] = {}
    for value in timings:
        counts[value] = counts.get(value, 0) + 1
    return {
        "path": path,
        "samples": len(timings),
        **{
            f"p{round(q * 100)}_ms": round(livestats.nearest_rank(counts, q), 3)
            for q in (0.50, 0.95, 0.99)
        },
        "max_ms": round(max(timings), 3),
        "statuses": statuses,
    }


def _sample_orders(samples: int, configuration: Configuration) -> dict[str, Any]:
    timings, statuses = [], {}
    for _ in range(samples):
        answer = place_order(raise_on_unavailable=False, configuration=configuration)
        timings.append(answer["elapsed_ms"])
        statuses[str(answer["status"])] = statuses.get(str(answer["status"]), 0) + 1
    return _timings(ORDERS, timings, statuses)


def _carries(body: Any, what: str) -> bool:
    if not what:
        return True
    if not isinstance(body, dict):
        return False
    if what == "id":
        return body.get("id") is not None
    if what == "reason":
        return bool(body)
    if what == "fields":
        return CONTRACT_FIELDS <= set(body)
    words = DEPENDENCY_WORDS[what.removeprefix("names:")]
    return any(word in str(body).lower() for word in words)


def _short(body: Any) -> str:
    return str(body)[:200]


def _server_buckets(configuration: Configuration, path: str) -> dict[float, float] | None:
    """The API's cumulative ``http_request_duration_seconds`` buckets of ``path`` (ms: count)
    from its /metrics, or None where it exposes none."""
    text = fetch_text(_api_url(configuration), "/metrics")
    if text is None:
        return None
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_bucket" and (
                sample.labels.get("endpoint") == path
            ):
                bound = float(sample.labels["le"]) * 1000
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets or None


def _sampled_server_view(
    client_p99_ms: float, before: dict[float, float] | None, after: dict[float, float] | None
) -> dict[str, Any]:
    if before is None or after is None:
        return {"not_available": "the API's /metrics has no http_request_duration_seconds"}
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    estimate = livestats.histogram_quantile(delta, 0.99)
    if estimate is None:
        return {"not_available": "the API's histogram counted none of the samples"}
    value, bucket = estimate
    view: dict[str, Any] = {"p99_ms": value, "bucket_ms": bucket}
    note = livestats.compare_views(client_p99_ms, value, bucket)
    if note:
        view["measurement_note"] = note
    return view
