"""The server's side of a run, from Prometheus, for the seconds the load ran.

The one place the game-day report keeps its PromQL (``PANELS``), so that it can be
unified with the Grafana dashboards' panel definitions later. Each panel lists
queries; a query with ``by`` gives one series per value of that label. A query that
returns nothing (a target without the aggregator's metrics, say) is left out of
the chart; one Prometheus cannot answer is named in ``problems``. ``versions`` reads
the components' versions from the exporters' info metrics (``VERSIONS``).
"""

from __future__ import annotations

import math
from typing import Any

import requests

__all__ = ["PANELS", "VERSIONS", "fetch", "versions"]

RATE = "[15s]"  # three scrapes of the lab's 5 s interval
PANELS: list[dict[str, Any]] = [
    {
        "title": "API P99 by endpoint (ms, Prometheus)",
        "queries": [
            {
                "label": "API P99",
                "by": "endpoint",
                "scale": 1000,
                "promql": "histogram_quantile(0.99, sum by (le, endpoint) "
                f'(rate(http_request_duration_seconds_bucket{{endpoint!~"/metrics|/livez"}}{RATE})))',
            }
        ],
    },
    {
        "title": "API 5xx/s by endpoint (Prometheus)",
        "queries": [
            {
                "label": "5xx",
                "by": "endpoint",
                "promql": f'sum by (endpoint) (rate(http_requests_total{{status_code=~"5.."}}{RATE}))',
            }
        ],
    },
    {
        "title": "Connections",
        "queries": [
            {"label": "PostgreSQL connections", "promql": "sum(pg_stat_activity_count)"},
            {"label": "Redis clients", "promql": "sum(redis_connected_clients)"},
        ],
    },
    {
        "title": "Redis ops/s",
        "queries": [
            {"label": "Redis ops/s", "promql": f"sum(rate(redis_commands_processed_total{RATE}))"}
        ],
    },
    {
        "title": "Aggregator last pass age (s) and node CPU (%)",
        "queries": [
            {
                "label": "last pass age s",
                "promql": "time() - max(aggregator_last_success_timestamp_seconds)",
            },
            {
                "label": "node CPU %",
                "scale": 100,
                "promql": f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}{RATE}))',
            },
        ],
    },
]

# component: (info metric, its label that holds the version)
VERSIONS = {
    "PostgreSQL": ("pg_static", "short_version"),
    "Redis": ("redis_instance_info", "redis_version"),
    "Python": ('python_info{job=~"api|aggregator"}', "version"),
    "Prometheus": ("prometheus_build_info", "version"),
}


def versions(prometheus_url: str) -> dict[str, str]:
    """``{"PostgreSQL": "15.18.0", ...}`` for the components Prometheus knows (none when it
    does not answer): the report's header."""
    found = {}
    for component, (metric, label) in VERSIONS.items():
        try:
            response = requests.get(
                f"{prometheus_url}/api/v1/query", params={"query": metric}, timeout=5
            )
            results = response.json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            return found
        seen = sorted({r["metric"][label] for r in results if label in r["metric"]})
        if seen:
            found[component] = ", ".join(seen)
    return found


def fetch(prometheus_url: str, start: float, end: float, step_s: int = 5) -> dict[str, Any]:
    """``{"t": [...], "panels": [{"title", "series": {label: [values]}}], "problems": [...]}``
    over ``[start, end]`` every ``step_s`` seconds."""
    times = list(range(int(start), int(end) + 1, step_s))
    panels, problems = [], []
    for panel in PANELS:
        series: dict[str, list[float | None]] = {}
        for query in panel["queries"]:
            try:
                answer = _range(prometheus_url, query["promql"], times[0], times[-1], step_s)
            except requests.RequestException as exc:
                problems.append(f"{prometheus_url} did not answer ({type(exc).__name__})")
                return {"t": times, "panels": panels, "problems": problems}
            except (ValueError, KeyError) as exc:
                problems.append(f"{query['label']}: {exc}")
                continue
            for result in answer:
                key = query["label"]
                if query.get("by"):
                    key = f"{key} {result['metric'].get(query['by'], '?')}"
                series[key] = _aligned(result["values"], times, query.get("scale", 1))
        if series:
            panels.append({"title": panel["title"], "series": series})
    return {"t": times, "panels": panels, "problems": problems}


def _range(url: str, promql: str, start: int, end: int, step_s: int) -> list[dict[str, Any]]:
    response = requests.get(
        f"{url}/api/v1/query_range",
        params={"query": promql, "start": start, "end": end, "step": step_s},
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(body.get("error", "no success"))
    return body["data"]["result"]


def _aligned(values: list[list[Any]], times: list[int], scale: float) -> list[float | None]:
    by_time = {int(float(t)): float(v) for t, v in values}
    aligned = []
    for t in times:
        value = by_time.get(t)
        ok = value is not None and math.isfinite(value)
        aligned.append(round(value * scale, 3) if ok else None)
    return aligned
