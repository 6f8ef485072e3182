"""Database, cache and aggregator tests: customers plus something done to PostgreSQL or Redis
(seeding, an environment override, a cold cache), and what it measures."""

from __future__ import annotations

from typing import Any

from .blocks import (
    CUSTOMERS,
    CUSTOMERS_AND_VIEWERS,
    DASHBOARD,
    LOAD_CONFIG,
    ORDERS,
    STOP_LOAD,
    action,
    answer,
    experiment,
    healthy_load,
    load_within,
    marker_shown,
    only_200_or_503,
    probe,
    ref,
    service_action,
    start_load,
    var,
)

SEED = action(
    "seed-orders", "actions.seed", "seed_orders", rows=var("seed_rows"), name=var("seed_name")
)
UNSEED = action(
    "remove-seeded-orders", "actions.seed", "remove_seeded_orders", name=var("seed_name")
)
ORDER_LABELS = ["drink", "store", "version"]


def data_test(
    title: str,
    description: str,
    tags: list[str],
    configuration: dict[str, Any],
    method: list[dict[str, Any]],
    rollbacks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Customers and dashboard viewers by default; the rollbacks stop the load by default."""
    config = {**LOAD_CONFIG, "user_classes": CUSTOMERS_AND_VIEWERS, **configuration}
    return experiment(title, description, tags, config, method, rollbacks or [ref(STOP_LOAD)])


def override(name: str, service: str, env: dict[str, Any]) -> dict[str, Any]:
    return action(name, "actions.config", "override_service_env", service=service, env=env)


def clear_override(name: str, service: str) -> dict[str, Any]:
    return action(name, "actions.config", "clear_service_env_override", service=service)


def db_write_stress() -> dict[str, Any]:
    return data_test(
        title="High write volume: PostgreSQL keeps up with RushHourCustomer traffic",
        description=(
            "Only RushHourCustomer users (an order every 0.5-2 s each). Measures the rows "
            "PostgreSQL commits per second, the orders' P99 and failure ratio, the table and "
            "index growth, and PostgreSQL's memory and connections. Operators expect every "
            "order to be stored and the orders' P99 to stay under the threshold."
        ),
        tags=["database", "load"],
        configuration={"users": 100, "user_classes": "RushHourCustomer=1", "fault_s": 120},
        method=[
            probe("orders-table-size-before", "probes.postgres", "table_size"),
            start_load(),
            probe(
                "inserts-per-second",
                "probes.postgres",
                "inserts_per_second",
                window_s=var("fault_s"),
            ),
            healthy_load("orders-p99-and-failures-under-write-stress", "fault_s", ORDERS),
            probe("postgresql-connections", "probes.postgres", "connections"),
            probe("postgresql-processes", "probes.process", "process_usage", service="postgresql"),
            probe("orders-table-size-after", "probes.postgres", "table_size"),
            STOP_LOAD,
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
        ],
    )


def aggregator_lock_contention() -> dict[str, Any]:
    return data_test(
        title="Reads and writes during aggregation passes: lock waits stay under a bound",
        description=(
            "Seeds historical orders so each aggregation pass scans a realistic table, then "
            "plays customers and dashboard viewers while the aggregator runs its passes. "
            "Samples PostgreSQL's lock waits every 100 ms across at least two passes. Operators "
            "expect no session to wait on a lock longer than max_lock_wait_s, and orders to "
            "keep their P99."
        ),
        tags=["database", "aggregator", "locks"],
        configuration={
            "seed_rows": 1000000,
            "seed_name": "lock-contention",
            "fault_s": 60,
            "max_lock_wait_s": 0.5,
        },
        method=[
            SEED,
            start_load(),
            probe(
                "aggregator-pass-under-load",
                "probes.aggregator",
                "aggregator_next_pass",
                background=True,
                timeout_s=var("fault_s"),
            ),
            probe(
                "lock-waits-stay-under-the-bound",
                "probes.postgres",
                "lock_waits_stay_under",
                duration_s=var("fault_s"),
                max_wait_s=var("max_lock_wait_s"),
            ),
            healthy_load("orders-p99-during-aggregation", "fault_s", ORDERS),
            probe("postgresql-connections", "probes.postgres", "connections"),
            STOP_LOAD,
            UNSEED,
        ],
        rollbacks=[ref(STOP_LOAD), ref(UNSEED)],
    )


# While the aggregator's passes run on the seeded table: its memory, Redis's writes, a pass.
PASSES_ON_THE_BIG_TABLE = [
    probe(
        "aggregator-memory-stays-flat-during-passes",
        "probes.process",
        "process_usage_over",
        background=True,
        service="aggregator",
        duration_s=var("fault_s"),
        max_peak_growth_mb=var("max_aggregator_growth_mb"),
    ),
    probe(
        "redis-write-latency-during-passes",
        "probes.redis",
        "redis_write_latency",
        background=True,
        samples=200,
        interval_s=0.1,
    ),
    probe(
        "pass-duration-on-the-big-table",
        "probes.aggregator",
        "aggregator_next_pass",
        timeout_s=var("pass_wait_s"),
        max_duration_s=var("aggregator_interval_s"),
    ),
]


def aggregator_under_pressure() -> dict[str, Any]:
    no_hold = override(
        "aggregator-passes-without-the-lab-hold", "aggregator", {"AGGREGATOR_HOLD_SECONDS": 0}
    )
    return data_test(
        title=(
            "The aggregator on 1M+ orders: pass duration, Redis writes, memory, and the API's "
            "P99 impact"
        ),
        description=(
            "Plays the usual customers and dashboard viewers, measures a baseline window, then "
            "seeds seed_rows historical orders over 30 days. During the next aggregation pass "
            "it samples the aggregator's memory and the latency of writes to Redis, and it "
            "reports the pass duration. Operators expect a pass to finish within the "
            "aggregator interval and the API's P99 to stay under the threshold while passes "
            "run on the big table. The lab holds each reference-café pass 1 s "
            "(AGGREGATOR_HOLD_SECONDS, for the mid-pass kill); the first step restarts the "
            "aggregator without that hold (a target that lacks the variable ignores it) and the "
            "rollback restores it."
        ),
        tags=["aggregator", "database", "load"],
        configuration={
            "seed_rows": 1000000,
            "seed_name": "aggregator-pressure",
            "baseline_s": 30,
            "fault_s": 60,
            "aggregator_interval_s": 10,
            "pass_wait_s": 30,
            # A pass aggregates in SQL and fetches at most 50 rows: its memory must not grow
            # with the table (1M orders).
            "max_aggregator_growth_mb": 16,
        },
        method=[
            no_hold,
            start_load(),
            probe(
                "api-before-seeding",
                "probes.load",
                "load_stats",
                before=var("baseline_s"),
                window_s=var("baseline_s"),
            ),
            probe(
                "aggregator-memory-before", "probes.process", "process_usage", service="aggregator"
            ),
            SEED,
            *PASSES_ON_THE_BIG_TABLE,
            healthy_load("api-p99-while-passes-run", "fault_s", before=var("baseline_s")),
            probe("orders-table-size", "probes.postgres", "table_size"),
            STOP_LOAD,
            UNSEED,
        ],
        rollbacks=[
            ref(STOP_LOAD),
            ref(UNSEED),
            clear_override("restore-the-aggregator-environment", "aggregator"),
        ],
    )


SHRINK_POOL = override(
    "shrink-the-api-pool", "api", {"DB_POOL_MAX_SIZE": var("pool_size"), "DB_POOL_MIN_SIZE": 1}
)
SLOW_POSTGRES = action(
    "slow-postgres-round-trips",
    "actions.network",
    "add_latency",
    dependency="postgresql",
    latency_ms=var("db_latency_ms"),
)
UNSLOW_POSTGRES = action(
    "remove-postgres-latency",
    "actions.network",
    "remove_network_faults",
    after=var("fault_settle_s"),
    dependency="postgresql",
)
# While the small pool is exhausted: what the answers were, and that they stayed bounded.
WHILE_EXHAUSTED = [
    probe(
        "pool-exhausted-answers",
        "probes.load",
        "load_stats",
        before=var("fault_s"),
        window_s=var("fault_s"),
        endpoint=ORDERS,
    ),
    only_200_or_503("only-200-or-503-while-exhausted", "fault_s"),
    load_within("answers-within-the-pool-timeout", "fault_s", p99_ms=var("answer_bound_ms")),
    answer("readyz-does-not-hang", "readyz-answers", var("answer_bound_ms")),
]


def exhaust_api_pool() -> dict[str, Any]:
    return data_test(
        title=(
            "Connection pool much smaller than the users: fast 503s, no hang, recovery when "
            "load drops"
        ),
        description=(
            "Restarts the API with a pool of pool_size connections (DB_POOL_MIN_SIZE 1) and "
            "slows its PostgreSQL round trips by db_latency_ms (a realistic query time), then "
            "plays pool_users RushHourCustomer users. Operators expect the API to answer only "
            "200 or 503, within the pool timeout plus a margin (answer_bound_ms), never to hang. "
            "Then the load stops and the latency goes; with recovery_users playing, the API "
            "(still on the small pool) must take orders again within the normal thresholds: no "
            "connection stays lost after exhaustion. The rollbacks remove the latency and "
            "restart the API with its own pool."
        ),
        tags=["database", "pool", "load"],
        configuration={
            "pool_users": 200,
            "pool_size": 2,
            "db_latency_ms": 100,
            "answer_bound_ms": 1500,
            "user_classes": "RushHourCustomer=1",
            "fault_s": 60,
            "fault_settle_s": 5,
            "recovery_users": 5,
            "recovery_window_s": 30,
            "recovery_deadline_s": 30,
        },
        method=[
            SHRINK_POOL,
            probe(
                "api-ready-with-the-small-pool",
                "probes.http",
                "time_to_recover",
                deadline_s=var("recovery_deadline_s"),
            ),
            SLOW_POSTGRES,
            start_load(users="pool_users", after=var("fault_settle_s")),
            *WHILE_EXHAUSTED,
            STOP_LOAD,
            UNSLOW_POSTGRES,
            start_load(users="recovery_users", after=None),
            healthy_load(
                "orders-succeed-once-load-drops",
                "recovery_window_s",
                ORDERS,
                before=var("recovery_window_s"),
            ),
            STOP_LOAD,
        ],
        rollbacks=[
            ref(UNSLOW_POSTGRES),
            clear_override("restore-the-api-pool", "api"),
            ref(STOP_LOAD),
        ],
    )


def _cache_phase(phase: str, window: str) -> list[dict[str, Any]]:
    """Redis's hits or misses and the dashboard's figures over a warm or a cold phase."""
    redis_figures = "hits" if phase == "warm" else "misses"
    return [
        probe(
            f"{phase}-cache-redis-{redis_figures}",
            "probes.redis",
            "redis_stats",
            window_s=var(window),
        ),
        probe(
            f"{phase}-cache-dashboard-under-load",
            "probes.load",
            "load_stats",
            window_s=var(window),
            endpoint=DASHBOARD,
        ),
    ]


def cache_effectiveness() -> dict[str, Any]:
    stop_aggregator = service_action("stop", "aggregator")
    return data_test(
        title=(
            "What the Redis cache buys: dashboard latency with the aggregator running vs "
            "stopped, warm vs cold"
        ),
        description=(
            "Plays dashboard viewers and customers. Measures the dashboard's latency under load "
            "with the aggregator running (warm cache), then stops the aggregator and empties "
            "the cache keys (cold cache) and measures again; Redis hits and misses in each "
            "phase. Reports the cold/warm latency ratios (P50, P99) of dashboard requests timed "
            "just before and just after the cache is emptied. Operators expect the dashboard to "
            "keep answering 200 quickly with a cold cache (never a 5xx: it shows empty "
            "figures), and to be fresh again within an aggregator interval plus a margin once "
            "the aggregator runs."
        ),
        tags=["cache", "redis", "aggregator"],
        configuration={
            "user_classes": "DashboardViewer=3,CoffeeConsumer=1",
            "baseline_s": 20,
            "fault_s": 30,
            "cache_samples": 200,
            "fresh_within_s": 15,
        },
        method=[
            start_load(),
            *_cache_phase("warm", "baseline_s"),
            stop_aggregator,
            action(
                "empty-the-dashboard-cache-timing-warm-and-cold",
                "actions.cache",
                "drop_dashboard_cache",
                samples=var("cache_samples"),
            ),
            *_cache_phase("cold", "fault_s"),
            healthy_load("dashboard-keeps-answering-with-a-cold-cache", "fault_s", DASHBOARD),
            service_action("start", "aggregator"),
            marker_shown("dashboard-fresh-again", "fresh_within_s"),
            probe(
                "warm-cache-dashboard-latency",
                "probes.http",
                "endpoint_latency",
                path=DASHBOARD,
                samples=var("cache_samples"),
            ),
            STOP_LOAD,
        ],
        rollbacks=[service_action("start", "aggregator"), ref(STOP_LOAD)],
    )


def cache_invalidation() -> dict[str, Any]:
    return data_test(
        title=(
            "Under heavy writes the dashboard lags PostgreSQL by at most an aggregator interval "
            "plus a margin"
        ),
        description=(
            "Plays many RushHourCustomer users and some dashboard viewers. Every second it "
            "places a marker order and times how long until the dashboard shows it (its id or "
            "a later one: no client timestamp is compared with a clock). Operators expect every "
            "marker shown within fresh_within_s (the aggregator's 10 s interval plus a margin), "
            "and the dashboard's P99 to hold."
        ),
        tags=["cache", "redis", "aggregator", "load"],
        configuration={
            "users": 100,
            "user_classes": "RushHourCustomer=5,DashboardViewer=1",
            "fault_s": 120,
            "fresh_within_s": 15,
        },
        method=[
            start_load(),
            probe(
                "every-marker-order-shown-in-time",
                "probes.freshness",
                "freshness_stays_under",
                duration_s=var("fault_s"),
                max_s=var("fresh_within_s"),
            ),
            healthy_load("dashboard-p99-under-write-load", "fault_s", DASHBOARD),
            probe(
                "orders-p99-under-write-load",
                "probes.load",
                "load_stats",
                window_s=var("fault_s"),
                endpoint=ORDERS,
            ),
            probe("redis-hits-and-ops", "probes.redis", "redis_stats", window_s=0),
            probe("cache-key-ages", "probes.redis", "key_ages"),
            STOP_LOAD,
        ],
    )


def metrics_cardinality() -> dict[str, Any]:
    return data_test(
        title="High store/drink diversity, valid and invalid: orders_created_total stays bounded",
        description=(
            "Alongside the usual customers, posts orders cycling through every drink x store "
            "combination and a share naming unknown drinks or stores (a fresh value each). "
            "Operators expect invalid orders to be refused without creating metric series, so "
            "orders_created_total keeps at most max_order_series series (3 drinks x 4 stores x "
            "1 version); Prometheus's memory and head series growth are measured."
        ),
        tags=["metrics", "prometheus", "load"],
        configuration={
            "user_classes": CUSTOMERS,
            "fault_s": 120,
            "invalid_share": 0.5,
            "diverse_rate_per_s": 50,
            "max_order_series": 12,
            "scrape_settle_s": 6,
        },
        method=[
            start_load(),
            probe("orders-series-before", "probes.prometheus", "series_count", labels=ORDER_LABELS),
            action(
                "diverse-orders",
                "actions.orders",
                "place_diverse_orders",
                background=True,
                duration_s=var("fault_s"),
                invalid_share=var("invalid_share"),
                rate_per_s=var("diverse_rate_per_s"),
            ),
            probe(
                "prometheus-memory-growth",
                "probes.prometheus",
                "prometheus_memory",
                over_s=var("fault_s"),
            ),
            probe(
                "orders-series-stay-bounded",
                "probes.prometheus",
                "series_count_at_most",
                before=var("scrape_settle_s"),
                max_series=var("max_order_series"),
                labels=ORDER_LABELS,
            ),
            only_200_or_503("only-200-or-503-for-customers", "fault_s"),
            STOP_LOAD,
        ],
    )


EXPERIMENTS = {
    "db-write-stress": db_write_stress,
    "aggregator-lock-contention": aggregator_lock_contention,
    "aggregator-under-pressure": aggregator_under_pressure,
    "exhaust-api-pool": exhaust_api_pool,
    "cache-effectiveness": cache_effectiveness,
    "cache-invalidation": cache_invalidation,
    "metrics-cardinality": metrics_cardinality,
}
# The café flaws each experiment must catch, and the method probe that must fail on each.
CATCHES = {
    "db-write-stress": {"blocking-handler": "orders-p99-and-failures-under-write-stress"},
    "aggregator-lock-contention": {"table-locking-aggregation": "lock-waits-stay-under-the-bound"},
    "aggregator-under-pressure": {
        "aggregator-loads-every-order": "aggregator-memory-stays-flat-during-passes"
    },
    "exhaust-api-pool": {"no-dependency-timeouts": "answers-within-the-pool-timeout"},
    "cache-effectiveness": {"cold-cache-crash": "dashboard-keeps-answering-with-a-cold-cache"},
    "cache-invalidation": {"slow-aggregation": "every-marker-order-shown-in-time"},
    "metrics-cardinality": {"raw-order-labels": "orders-series-stay-bounded"},
}
