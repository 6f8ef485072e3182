"""Expectations: what the operators expect of the system during and after a fault.

Each probe returns the figures it saw when the expectation holds and raises
``ActivityFailed`` saying what was expected and what was seen when it does
not. In a method, the safety control (``gameday.controls``) turns a failed
expectation into a deviation, so a system that misbehaves never passes.
All of them rely only on the target contract, except
``api_not_restarted_during_load`` (it asks the lab's process manager).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import locustrun, services
from gameday.errors import GamedayError
from gameday.target import TargetError, load_target
from probes.http import dashboard, dashboard_staleness, endpoint_latency, place_order, readyz
from probes.load import load_stats

__all__ = [
    "api_not_restarted_during_load",
    "dashboard_becomes_fresh",
    "dashboard_fails_gracefully",
    "dashboard_is_fresh",
    "dashboard_is_served",
    "dashboard_is_stale_but_served",
    "load_is_healthy",
    "load_p99_at_most",
    "only_expected_answers",
    "order_fails_fast",
    "order_is_accepted",
    "readyz_answers_within",
    "readyz_names_failure",
    "sampled_latency",
]
logger = logging.getLogger("chaostoolkit")

DEPENDENCY_WORDS = {"postgresql": ("postgres", "database", "db"), "redis": ("redis", "cache")}


def sampled_latency(
    path: str = "/api/dashboard",
    samples: int = 20,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """P50/P95/P99 and failure ratio of ``samples`` sequential requests to ``path``.

    ``/api/v1/order`` places real orders; any other path is a GET.
    """
    if path != "/api/v1/order":
        facts = endpoint_latency(path, "GET", samples, configuration=configuration)
        failed = sum(n for code, n in facts["statuses"].items() if code != "200")
        return {**facts, "failure_ratio": round(failed / samples, 4)}
    timings, statuses = [], {}
    for _ in range(samples):
        answer = place_order(raise_on_unavailable=False, configuration=configuration)
        timings.append(answer["elapsed_ms"])
        statuses[str(answer["status"])] = statuses.get(str(answer["status"]), 0) + 1
    timings.sort()
    rank = max(0, min(len(timings) - 1, int(0.99 * len(timings) + 0.5) - 1))
    failed = sum(n for code, n in statuses.items() if code != "200")
    return {
        "path": path,
        "samples": samples,
        "p50_ms": timings[len(timings) // 2],
        "p99_ms": timings[rank],
        "max_ms": timings[-1],
        "statuses": statuses,
        "failure_ratio": round(failed / samples, 4),
    }


def readyz_names_failure(
    dependency: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """/readyz answers 503 and its body names ``dependency`` (redis or postgresql)."""
    words = DEPENDENCY_WORDS.get(dependency)
    if words is None:
        raise ActivityFailed(f"unknown dependency {dependency!r}: use redis or postgresql")
    answer = readyz(raise_on_unavailable=False, configuration=configuration)
    body = str(answer["body"]).lower()
    if answer["status"] != 503 or not any(word in body for word in words):
        raise ActivityFailed(
            f"expected /readyz to answer 503 naming {dependency}, "
            f"got {answer['status']}: {str(answer['body'])[:200]}"
        )
    return answer


def readyz_answers_within(
    max_ms: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """/readyz answers (200 or 503) within ``max_ms``: health checks do not hang."""
    answer = readyz(
        timeout_s=max_ms / 1000 + 1, raise_on_unavailable=False, configuration=configuration
    )
    if answer["status"] not in (200, 503) or answer["elapsed_ms"] > max_ms:
        raise ActivityFailed(
            f"expected /readyz to answer 200 or 503 within {max_ms} ms, got "
            f"{answer['status']} after {answer['elapsed_ms']:.0f} ms"
        )
    return answer


def dashboard_fails_gracefully(
    max_ms: float = 2000, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The dashboard answers 503 with a JSON reason, quickly: never a 500 or a hang."""
    answer = dashboard(
        timeout_s=max_ms / 1000 + 1, raise_on_unavailable=False, configuration=configuration
    )
    reason = answer.get("reason")
    if answer["status"] != 503 or not isinstance(reason, dict) or answer["elapsed_ms"] > max_ms:
        raise ActivityFailed(
            f"expected the dashboard to answer 503 with a JSON reason within {max_ms} ms, "
            f"got {answer['status']} after {answer['elapsed_ms']:.0f} ms: {str(reason)[:200]}"
        )
    return answer


def dashboard_is_served(
    max_ms: float = 2000, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The dashboard answers 200 with the contract's shape within ``max_ms``."""
    answer = dashboard(
        timeout_s=max_ms / 1000 + 1, raise_on_unavailable=False, configuration=configuration
    )
    body = answer.get("body")
    shaped = isinstance(body, dict) and {"top5_drinks", "recent_orders", "server_timestamp"} <= set(
        body
    )
    if answer["status"] != 200 or not shaped or answer["elapsed_ms"] > max_ms:
        raise ActivityFailed(
            f"expected the dashboard to answer 200 with its cached metrics within {max_ms} ms, "
            f"got {answer['status']} after {answer['elapsed_ms']:.0f} ms"
        )
    return {
        "status": 200,
        "elapsed_ms": answer["elapsed_ms"],
        "recent_orders": len(body["recent_orders"]),
    }


def order_is_accepted(
    max_ms: float = 2000, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """A real order is acknowledged (200 with an id) within ``max_ms``."""
    answer = place_order(
        timeout_s=max_ms / 1000 + 1, raise_on_unavailable=False, configuration=configuration
    )
    if answer["status"] != 200 or answer.get("id") is None or answer["elapsed_ms"] > max_ms:
        raise ActivityFailed(
            f"expected an order to be accepted within {max_ms} ms, got {answer['status']} "
            f"after {answer['elapsed_ms']:.0f} ms: {str(answer.get('reason'))[:200]}"
        )
    return answer


def order_fails_fast(
    max_ms: float = 2000, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """An order is refused with 503 within ``max_ms``: never a 500, a hang or a false 200."""
    answer = place_order(
        timeout_s=max_ms / 1000 + 1, raise_on_unavailable=False, configuration=configuration
    )
    if answer["status"] != 503 or answer["elapsed_ms"] > max_ms:
        raise ActivityFailed(
            f"expected an order to fail fast with 503 within {max_ms} ms, got "
            f"{answer['status']} after {answer['elapsed_ms']:.0f} ms"
        )
    return answer


def load_is_healthy(
    window_s: int,
    p99_ms: float,
    max_failure_ratio: float,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load: requests completed, P99 and failure ratio within bounds."""
    facts = load_stats(window_s, endpoint, configuration=configuration)
    what = endpoint or "all requests"
    if not facts["count"]:
        raise ActivityFailed(f"expected {what} to complete in the last {window_s} s, none did")
    if facts["p99_ms"] > p99_ms or facts["failure_ratio"] > max_failure_ratio:
        raise ActivityFailed(
            f"expected {what} over the last {window_s} s to have P99 <= {p99_ms} ms and "
            f"failure ratio <= {max_failure_ratio}, got P99 {facts['p99_ms']} ms and "
            f"failure ratio {facts['failure_ratio']} ({facts['count']} requests, codes {facts['codes']})"
        )
    return facts


def load_p99_at_most(
    window_s: int,
    p99_ms: float,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load, answers (good or bad) came within ``p99_ms``."""
    facts = load_stats(window_s, endpoint, configuration=configuration)
    what = endpoint or "all requests"
    if not facts["count"] or facts["p99_ms"] > p99_ms:
        raise ActivityFailed(
            f"expected {what} to be answered with P99 <= {p99_ms} ms over the last "
            f"{window_s} s, got {facts['count']} answers with P99 {facts['p99_ms']} ms"
        )
    return facts


def only_expected_answers(
    window_s: int,
    allowed: list[int] | None = None,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load, every answer had an ``allowed`` status
    (default 200 and 503); no answer at all (status 0: reset, refused, timed out) is unexpected."""
    permitted = {str(code) for code in (allowed or [200, 503])}
    facts = load_stats(window_s, endpoint, configuration=configuration)
    unexpected = {code: n for code, n in facts["codes"].items() if code not in permitted}
    if unexpected or not facts["count"]:
        raise ActivityFailed(
            f"expected only {sorted(permitted)} over the last {window_s} s, "
            f"saw {facts['codes'] or 'no answers'}"
        )
    return facts


def dashboard_is_fresh(
    max_age_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The newest order on the dashboard is at most ``max_age_s`` old."""
    facts = dashboard_staleness(configuration=configuration)
    age = facts["newest_recent_order_age_s"]
    if age is None or age > max_age_s:
        raise ActivityFailed(
            f"expected the dashboard's newest order to be at most {max_age_s} s old, got {age}"
        )
    return facts


def dashboard_is_stale_but_served(
    min_age_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The dashboard still answers 200 while its newest order ages past ``min_age_s``
    (the aggregator is down: the stale cache is served, not an error)."""
    try:
        facts = dashboard_staleness(configuration=configuration)
    except ActivityFailed as exc:
        raise ActivityFailed(f"expected the stale cache to be served: {exc}") from None
    age = facts["newest_recent_order_age_s"]
    if age is None or age < min_age_s:
        raise ActivityFailed(
            f"expected a stale cache (newest order at least {min_age_s} s old) while the "
            f"aggregator is down, got {age}: is something else refreshing it?"
        )
    return facts


def dashboard_becomes_fresh(
    within_s: float,
    max_age_s: float,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Within ``within_s`` the dashboard's newest order is again at most ``max_age_s`` old."""
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started <= within_s:
        try:
            last = dashboard_staleness(configuration=configuration)
            age = last["newest_recent_order_age_s"]
            if age is not None and age <= max_age_s:
                return {**last, "seconds": round(time.monotonic() - started, 2)}
        except ActivityFailed as exc:
            last = str(exc)
        time.sleep(0.5)
    raise ActivityFailed(
        f"expected the dashboard to be fresh (newest order <= {max_age_s} s old) within "
        f"{within_s} s, last saw {last}"
    )


def api_not_restarted_during_load(
    service: str = "api", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The API process has been up since before the load began: it recovered by itself.

    Lab-only (asks the process manager for the service's uptime).
    """
    try:
        target = load_target(configuration)
        run = locustrun.current(target)
        status = services.status(service, target)
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(f"cannot tell whether {service} was restarted: {exc}") from None
    started = datetime.fromisoformat(run["started_at"]).timestamp()
    since_load = time.time() - started
    if status.get("state") != "RUNNING" or (status.get("uptime") or 0) < since_load:
        raise ActivityFailed(
            f"expected {service} to have run since the load started {since_load:.0f} s ago "
            f"without a restart, got {status}"
        )
    return {**status, "load_started_s_ago": round(since_load, 1)}
