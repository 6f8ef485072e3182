"""The panels and PromQL of the Grafana dashboards and the live page: one list, one place.

Every expression is written as Grafana runs it, with the dashboard's variables:
``$api_job`` and the other ``JOBS`` (the scrape job of each source) and
``$__rate_interval``. ``expand`` turns one into plain PromQL for a given set of
job names (the lab's by default) and rate window: the live page, the tests that
run every query against the lab's Prometheus, and any report that wants the
server's side use it. Stdlib only.

A panel marked ``optional`` reads what only the reference café or a standard
client library adds beyond the contract (docs/contract.md); ``live`` panels are
also on the Prometheus console page ``coffee-chaos.html``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DASHBOARDS",
    "FAULT_ANNOTATION",
    "JOBS",
    "LIVE_PAGE",
    "RATE_WINDOW",
    "Dashboard",
    "Panel",
    "Query",
    "dashboard_files",
    "expand",
    "grafana_url",
    "live_page_url",
    "live_panels",
]

# The live page (a Prometheus console), Grafana's address where roles/grafana runs it, and
# the generated dashboards (python -m dashboards.build).
LIVE_PAGE = "coffee-chaos.html"
GRAFANA = "http://127.0.0.1:3000"
DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
# Grafana variable -> the scrape job of the lab (roles/prometheus: prometheus_scrape_targets).
JOBS = {
    "api_job": "api",
    "aggregator_job": "aggregator",
    "locust_job": "locust",
    "node_job": "node",
    "redis_job": "redis_exporter",
    "postgres_job": "postgres_exporter",
    "prometheus_job": "prometheus",
}
# What Grafana's $__rate_interval is with the lab's 5 s scrape: four scrapes.
RATE_WINDOW = "20s"
# A rate that may rightly be zero shows 0, labelled "none", rather than no data.
_OR_NONE = ' or on() label_replace(vector(0), "{label}", "none", "", "")'
FAULT_ANNOTATION = 'max by (kind, target, name) (coffee_chaos_fault_active{job="$node_job"})'


@dataclass(frozen=True)
class Query:
    """One PromQL expression and its legend (Grafana's ``{{label}}`` syntax)."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A time series panel."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    optional: bool = False
    live: bool = False


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: its file name (``dashboards/<uid>.json``), title, time range, panels."""

    uid: str
    title: str
    description: str
    time_from: str
    refresh: str
    panels: tuple[Panel, ...]


def expand(expr: str, jobs: dict[str, str] | None = None, rate: str = RATE_WINDOW) -> str:
    """``expr`` with its variables replaced: the given jobs (the lab's) and rate window."""
    values = {**JOBS, **(jobs or {}), "__rate_interval": rate}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$(\w+)", value, expr)


def _quantile(q: float, metric: str, selector: str, window: str = "$__rate_interval") -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{selector}}}[{window}])))"


def _latency(name: str, endpoint: str, live: bool) -> Panel:
    locust = f'job="$locust_job", name="{endpoint}"'
    return Panel(
        f"{name} latency: Locust P50/P95/P99 and the API's own P99",
        tuple(
            Query(_quantile(q, "locust_request_duration_seconds", locust), f"Locust P{pct}")
            for q, pct in ((0.5, 50), (0.95, 95), (0.99, 99))
        )
        + (
            Query(
                _quantile(
                    0.99,
                    "http_request_duration_seconds",
                    f'job="$api_job", endpoint="{endpoint}"',
                ),
                "API P99",
            ),
        ),
        unit="s",
        description=f"Client and server view of {endpoint}: when they part, requests wait "
        "before the API sees them (or the load generator is short of CPU).",
        live=live,
    )


FAULTS = Panel(
    "Fault windows (coffee_chaos_fault_active)",
    (Query(FAULT_ANNOTATION, "fault {{kind}} on {{target}} by {{name}}"),),
    description="1 while the fault ledger holds a fault: from just before it is injected "
    "until it is reverted.",
    live=True,
)
PHASE = Panel(
    "Experiment phase",
    (
        Query(
            'max by (experiment, phase) (coffee_chaos_experiment_phase{job="$node_job"} == 1)',
            "{{experiment}}: {{phase}}",
        ),
    ),
    description="The running experiment's phase: baseline, fault, recovery, after.",
    live=True,
)
USERS = Panel(
    "Locust users",
    (Query('sum(locust_users{job="$locust_job"})', "users"),),
    live=True,
)
ANSWERED = Panel(
    "Answered/s by status code (Locust)",
    (
        Query(
            'sum by (code) (rate(locust_requests_total{job="$locust_job"}[$__rate_interval]))',
            "{{code}}",
        ),
    ),
    unit="reqps",
    description="Code 0: no answer (refused, reset or timed out).",
    live=True,
)
FAILED = Panel(
    "Failed/s by request (Locust)",
    (
        Query(
            'sum by (name) (rate(locust_failures_total{job="$locust_job"}[$__rate_interval]))'
            + _OR_NONE.format(label="name"),
            "{{name}}",
        ),
    ),
    unit="reqps",
    live=True,
)
ERRORS_5XX = Panel(
    "API 5xx/s by status code",
    (
        Query(
            "sum by (status_code) (rate(http_requests_total"
            '{job="$api_job", status_code=~"5.."}[$__rate_interval]))'
            + _OR_NONE.format(label="status_code"),
            "{{status_code}}",
        ),
    ),
    unit="reqps",
    description="A graceful failure is a 503; anything else (500) is a bug.",
    live=True,
)
DEPENDENCIES = Panel(
    "Dependencies up (exporters)",
    (
        Query('max(redis_up{job="$redis_job"})', "Redis up"),
        Query('max(pg_up{job="$postgres_job"})', "PostgreSQL up"),
    ),
    description="What /readyz depends on, seen by the Redis and PostgreSQL exporters.",
    live=True,
)
PG_CONNECTIONS = Panel(
    "PostgreSQL connections by state",
    (
        Query(
            'sum by (state) (pg_stat_activity_count{job="$postgres_job"})',
            "{{state}}",
        ),
    ),
)
REDIS = Panel(
    "Redis clients and commands/s",
    (
        Query('sum(redis_connected_clients{job="$redis_job"})', "clients"),
        Query(
            'sum(rate(redis_commands_processed_total{job="$redis_job"}[$__rate_interval]))',
            "commands/s",
        ),
    ),
)
AGGREGATOR = Panel(
    "Aggregator: last pass age and pass duration (reference café)",
    (
        Query(
            'time() - max(aggregator_last_success_timestamp_seconds{job="$aggregator_job"})',
            "last pass age",
        ),
        Query(
            'sum(rate(aggregator_pass_duration_seconds_sum{job="$aggregator_job"}[1m]))'
            ' / sum(rate(aggregator_pass_duration_seconds_count{job="$aggregator_job"}[1m]))',
            "pass duration (mean over 1 min)",
        ),
    ),
    unit="s",
    optional=True,
)
NODE = Panel(
    "Node CPU and memory in use",
    (
        Query(
            '1 - avg(rate(node_cpu_seconds_total{job="$node_job", mode="idle"}[$__rate_interval]))',
            "CPU busy",
        ),
        Query(
            '1 - sum(node_memory_MemAvailable_bytes{job="$node_job"})'
            ' / sum(node_memory_MemTotal_bytes{job="$node_job"})',
            "memory in use",
        ),
    ),
    unit="percentunit",
)
WEBSOCKETS = Panel(
    "WebSocket connections open (API)",
    (
        Query(
            'sum(websocket_connections_total{job="$api_job", action="connected"})'
            ' - sum(websocket_connections_total{job="$api_job", action="disconnected"})',
            "open",
        ),
    ),
)
PUSH_LAG = Panel(
    "WebSocket push lag P50/P99 (Locust DashboardWatcher)",
    tuple(
        Query(
            _quantile(
                q,
                "locust_request_duration_seconds",
                'job="$locust_job", name="/ws/dashboard push"',
                "1m",
            ),
            f"P{pct}",
        )
        for q, pct in ((0.5, 50), (0.99, 99))
    ),
    unit="s",
    description="Receive time minus the push's server_timestamp, over 1 min "
    "(a watcher gets one push every 10 s).",
)
OFFERED_SERVED = Panel(
    "Orders/s: requested by Locust vs committed by the API",
    (
        Query(
            "sum(rate(locust_requests_total"
            '{job="$locust_job", name="/api/v1/order"}[$__rate_interval]))',
            "requested (Locust)",
        ),
        Query(
            'sum(rate(orders_created_total{job="$api_job"}[$__rate_interval]))',
            "committed (orders_created_total)",
        ),
    ),
    unit="reqps",
)
PER_USER = Panel(
    "The knee: orders committed per second per user",
    (
        Query(
            'sum(rate(orders_created_total{job="$api_job"}[$__rate_interval]))'
            ' / sum(locust_users{job="$locust_job"})',
            "orders/s per user",
        ),
    ),
    description="Flat while the café keeps up with every customer; it falls past the "
    "knee, where added users only queue (baseline-ramp saves the figure).",
)
POOL = Panel(
    "API database pool: waiting and in use (reference café)",
    (
        Query('sum(db_pool_waiting{job="$api_job"})', "waiting"),
        Query('sum(db_pool_in_use{job="$api_job"})', "in use"),
    ),
    optional=True,
)
RSS = Panel(
    "Resident memory of the API and the aggregator",
    (
        Query(
            'process_resident_memory_bytes{job=~"$api_job|$aggregator_job"}',
            "{{job}}",
        ),
    ),
    unit="bytes",
    description="process_resident_memory_bytes, from the standard client libraries.",
    optional=True,
)
PG_TOTAL = Panel(
    "PostgreSQL connections",
    (Query('sum(pg_stat_activity_count{job="$postgres_job"})', "connections"),),
)
TABLE_BYTES = Panel(
    "Orders table and index bytes",
    (
        Query(
            'max by (schemaname) (pg_relation_table_bytes{job="$postgres_job", relname="orders"})',
            "{{schemaname}}.orders table",
        ),
        Query(
            'max by (schemaname) (pg_relation_index_bytes{job="$postgres_job", relname="orders"})',
            "{{schemaname}}.orders indexes",
        ),
    ),
    unit="bytes",
    description="From the lab's postgres_exporter query pg_relation (roles/prometheus).",
    optional=True,
)
HEAD_SERIES = Panel(
    "Prometheus head series, and orders_created_total series",
    (
        Query('max(prometheus_tsdb_head_series{job="$prometheus_job"})', "head series"),
        Query('count(orders_created_total{job="$api_job"})', "orders_created_total series"),
    ),
)

DASHBOARDS = (
    Dashboard(
        "coffee-chaos-game-day",
        "Coffee Chaos: game day",
        "Fault windows over the load and the system: what an operator watches during a game day.",
        "now-30m",
        "5s",
        (
            FAULTS,
            PHASE,
            USERS,
            ANSWERED,
            FAILED,
            _latency("Orders", "/api/v1/order", live=True),
            _latency("Dashboard", "/api/dashboard", live=False),
            ERRORS_5XX,
            DEPENDENCIES,
            PG_CONNECTIONS,
            REDIS,
            AGGREGATOR,
            NODE,
            WEBSOCKETS,
            PUSH_LAG,
        ),
    ),
    Dashboard(
        "coffee-chaos-capacity",
        "Coffee Chaos: capacity",
        "Offered against served load, step by step: where the knee is.",
        "now-1h",
        "10s",
        (
            USERS,
            OFFERED_SERVED,
            PER_USER,
            _latency("Orders", "/api/v1/order", live=False),
            POOL,
        ),
    ),
    Dashboard(
        "coffee-chaos-soak",
        "Coffee Chaos: soak",
        "What grows over hours: memory, connections, table bytes, series.",
        "now-6h",
        "1m",
        (
            RSS,
            PG_TOTAL,
            TABLE_BYTES,
            HEAD_SERIES,
            USERS,
            _latency("Orders", "/api/v1/order", False),
        ),
    ),
)


def live_panels() -> list[Panel]:
    """The game day's panels that the live page shows, in order."""
    return [panel for panel in DASHBOARDS[0].panels if panel.live]


def live_page_url(prometheus_url: str) -> str:
    """The live page on the target's Prometheus."""
    return f"{prometheus_url.rstrip('/')}/consoles/{LIVE_PAGE}"


def grafana_url(uid: str = "coffee-chaos-game-day") -> str:
    """A dashboard in the Grafana that roles/grafana provisions (off in the local lab)."""
    return f"{GRAFANA}/d/{uid}"


def dashboard_files() -> list[Path]:
    """The Grafana dashboards' JSON files, in the order of ``DASHBOARDS``."""
    return [DASHBOARDS_DIR / f"{board.uid}.json" for board in DASHBOARDS]
