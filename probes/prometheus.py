"""Chaos Toolkit probes over the target's Prometheus metrics (the contract's histogram).

Queries go through chaostoolkit-prometheus to the target's ``prometheus_url``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from chaosprometheus.probes import query

from controls.adapter import engine_call
from gameday.httpcheck import require_loopback

__all__ = [
    "api_p99_ms",
    "prometheus_memory",
    "series_count",
    "series_count_at_most",
    "server_latency",
]
logger = logging.getLogger("chaostoolkit")

QUERY_TIMEOUT_S: float = 10

_DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")
_ENDPOINT = re.compile(r"^/[A-Za-z0-9_./{}-]*$")
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def p99_query(window: str = "1m", endpoint: str | None = None) -> str:
    """The PromQL of the API's 99th percentile latency (seconds) over ``window``."""
    if not _DURATION.match(window):
        raise ActivityFailed(f"window {window!r} is not a Prometheus duration such as '1m'")
    selector = ""
    if endpoint is not None:
        if not _ENDPOINT.match(endpoint):
            raise ActivityFailed(f"endpoint {endpoint!r} is not a path such as '/api/v1/order'")
        selector = f'{{endpoint="{endpoint}"}}'
    return (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{selector}[{window}])))"
    )


def api_p99_ms(
    window: str = "1m",
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> float:
    """The API's p99 latency (ms) over ``window`` by Prometheus; fails without traffic."""
    promql = p99_query(window, endpoint)
    url = _prometheus_url(configuration)
    results = _ask(url, promql).get("data", {}).get("result", [])
    value = float(results[0]["value"][1]) if results else math.nan
    if math.isnan(value):
        raise ActivityFailed(
            f"Prometheus at {url} has no request durations for {endpoint or 'the API'} "
            f"over {window}: no traffic, or it does not scrape the API"
        )
    return round(value * 1000, 3)


def server_latency(
    window_s: int,
    endpoint: str | None = None,
    fraction: float = 0.99,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The API's own view of its latency over the last ``window_s``: the ``fraction``
    quantile (ms) of ``http_request_duration_seconds`` by Prometheus, the histogram
    bucket it falls in, and the histogram's bucket boundaries (ms). ``endpoint`` None:
    orders and the dashboard together. Evaluated now, so the window's edges move by up
    to a scrape interval: a second view to compare, not one to judge by."""
    if not isinstance(window_s, int) or window_s < 1 or not 0 < fraction < 1:
        raise ActivityFailed(f"need window_s >= 1 and 0 < fraction < 1, got {window_s}, {fraction}")
    selector = _endpoint_selector(endpoint)
    url = _prometheus_url(configuration)
    buckets = f"http_request_duration_seconds_bucket{selector}"
    value = _scalar(
        url, f"histogram_quantile({fraction}, sum by (le) (increase({buckets}[{window_s}s])))"
    )
    bounds = sorted(
        float(result["metric"]["le"]) * 1000
        for result in _ask(url, f"count by (le) ({buckets})").get("data", {}).get("result", [])
        if result["metric"].get("le") not in (None, "+Inf")
    )
    if math.isnan(value) or not bounds:
        raise ActivityFailed(
            f"Prometheus at {url} has no request durations of the API for "
            f"{endpoint or 'orders and the dashboard'} over the last {window_s} s"
        )
    quantile_ms = round(value * 1000, 3)
    lower = max((b for b in bounds if b < quantile_ms), default=0.0)
    upper = min((b for b in bounds if b >= quantile_ms), default=math.inf)
    return {
        "quantile": fraction,
        "value_ms": quantile_ms,
        "bucket_ms": [lower, upper],
        "boundaries_ms": bounds,
    }


def _endpoint_selector(endpoint: str | None) -> str:
    if endpoint is None:
        return '{endpoint=~"/api/v1/order|/api/dashboard"}'
    if not _ENDPOINT.match(endpoint):
        raise ActivityFailed(f"endpoint {endpoint!r} is not a path such as '/api/v1/order'")
    return f'{{endpoint="{endpoint}"}}'


def series_count(
    metric: str = "orders_created_total",
    labels: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """How many series ``metric`` has in Prometheus now, and how many distinct values
    each of ``labels`` takes: ``{"metric", "series", "distinct": {label: n}}``."""
    for name in [metric, *(labels or [])]:
        if not _NAME.match(str(name)):
            raise ActivityFailed(f"{name!r} is not a Prometheus metric or label name")
    url = _prometheus_url(configuration)
    series = _scalar(url, f"count({metric})")
    distinct = {
        label: int(_scalar(url, f"count(count by ({label}) ({metric}))")) for label in labels or []
    }
    return {"metric": metric, "series": int(series), "distinct": distinct}


def series_count_at_most(
    max_series: int,
    metric: str = "orders_created_total",
    labels: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """``series_count``, raising when ``metric`` has more than ``max_series`` series."""
    facts = series_count(metric, labels, configuration=configuration)
    if facts["series"] > max_series:
        raise ActivityFailed(
            f"expected {metric} to have at most {max_series} series in Prometheus, it has "
            f"{facts['series']} (distinct label values: {facts['distinct']}): a label takes "
            "unbounded values"
        )
    return facts


def prometheus_memory(
    job: str = "prometheus",
    over_s: float = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Prometheus's own resident memory (bytes) and head series, as it scrapes itself
    (job ``job``); with ``over_s``, also their growth over the next ``over_s`` seconds.
    Fails when Prometheus does not scrape itself."""
    if not _NAME.match(job):
        raise ActivityFailed(f"job {job!r} is not a plain Prometheus job name")
    if not 0 <= over_s <= 3600:
        raise ActivityFailed(f"over_s must be in [0, 3600], got {over_s!r}")
    url = _prometheus_url(configuration)
    first = _memory(url, job)
    if not over_s:
        return first
    time.sleep(over_s)
    last = _memory(url, job)
    return {
        **last,
        "over_s": over_s,
        "first_resident_bytes": first["resident_bytes"],
        "growth_bytes": last["resident_bytes"] - first["resident_bytes"],
        "head_series_growth": (
            last["head_series"] - first["head_series"]
            if None not in (first["head_series"], last["head_series"])
            else None
        ),
    }


def _memory(url: str, job: str) -> dict[str, Any]:
    resident = _scalar(url, f'sum(process_resident_memory_bytes{{job="{job}"}})')
    if math.isnan(resident):
        raise ActivityFailed(
            f"Prometheus at {url} has no process_resident_memory_bytes for job {job!r}: "
            "add a scrape job for Prometheus itself"
        )
    head = _scalar(url, f'sum(prometheus_tsdb_head_series{{job="{job}"}})')
    return {
        "resident_bytes": int(resident),
        "head_series": None if math.isnan(head) else int(head),
    }


def _prometheus_url(configuration: Configuration) -> str:
    with engine_call("query Prometheus", configuration) as target:
        require_loopback(target.prometheus_url, target.allow_remote_target)
    return target.prometheus_url


def _scalar(url: str, promql: str) -> float:
    """The single value of an instant query; 0 for count() of nothing, NaN when empty."""
    results = _ask(url, promql).get("data", {}).get("result", [])
    if not results:
        return 0.0 if promql.startswith("count(") else math.nan
    return float(results[0]["value"][1])


def _ask(url: str, promql: str) -> dict[str, Any]:
    """chaostoolkit-prometheus's instant query, answered within ``QUERY_TIMEOUT_S`` or failed.

    Its HTTP call has no timeout, so a Prometheus that accepts connections but never
    answers (stopped, swapping) would hang the experiment before its rollbacks; the
    query runs in a daemon thread that is abandoned after the deadline.
    """
    timeout_s = QUERY_TIMEOUT_S
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["answer"] = query(
                promql, timeout=timeout_s, configuration={"prometheus_base_url": url}
            )
        except Exception as exc:  # requests' connection errors, JSON decoding
            outcome["error"] = exc

    worker = threading.Thread(target=ask, name="prometheus-query", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ActivityFailed(
            f"Prometheus at {url} did not answer within {timeout_s:g} s: check that it runs "
            "and is not stopped (supervisorctl status prometheus)"
        )
    error = outcome.get("error")
    if isinstance(error, ActivityFailed):
        raise error
    if error is not None:
        raise ActivityFailed(f"Prometheus at {url} did not answer: {type(error).__name__}")
    return outcome["answer"]
