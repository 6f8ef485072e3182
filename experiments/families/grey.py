"""Grey failures: the dependency is there but hangs, or refuses some work. Members of the
failure family's skeleton (``failure.failure``): the operators expect what they expect of
the dependency's death, since the API's timeouts must turn a hang into a fast failure.
"""

from __future__ import annotations

from typing import Any

from .blocks import (
    CUSTOMERS,
    CUSTOMERS_AND_VIEWERS,
    DASHBOARD,
    ORDERS,
    action,
    answer,
    healthy_load,
    load_within,
    marker_shown,
    probe,
    service_action,
    spelling,
    var,
)
from .failure import (
    API_NOT_RESTARTED,
    FRESHNESS_CONFIG,
    NAMES,
    NEAR_BASELINE_CONFIG,
    failure,
    fault_window,
    postgres_outage,
    redis_outage,
)


def freeze_dependency(service: str) -> dict[str, Any]:
    """SIGSTOP a dependency's processes (its port stays open, nothing answers); SIGCONT is
    the revert. The operators expect what they expect of a kill: a hang must not show."""
    freeze = action(
        f"freeze-{spelling(service)}",
        "actions.services",
        "freeze_service",
        after=var("fault_settle_s"),
        service=service,
    )
    thaw = action(f"thaw-{spelling(service)}", "actions.services", "thaw_service", service=service)
    if service == "redis":
        expected = redis_outage([API_NOT_RESTARTED], near_baseline=False)
        during = "the dashboard answers 503 with a reason within 2 s, orders are still accepted"
    else:
        expected = postgres_outage()
        during = "orders fail fast with 503 (within 2 s), the dashboard serves the cache"
    return failure(
        title=f"{NAMES[service]} frozen under load: no request hangs, the API recovers by itself",
        description=(
            f"Stops every {NAMES[service]} process with SIGSTOP for fault_s while Locust plays "
            "the customers, then SIGCONT: the port stays open and connections are accepted by "
            "the kernel, but nothing answers (a grey failure, unlike a kill's refused "
            f"connections). Operators expect no request to hang: {during}, /readyz answers 503 "
            f"naming {NAMES[service]} within its own timeout, only 200 or 503; after SIGCONT "
            "the API recovers without a restart."
        ),
        tags=["failure-injection", "grey-failure", service],
        fault=[freeze],
        revert=thaw,
        **expected,
    )


def lock_orders_table() -> dict[str, Any]:
    lock = action(
        "lock-orders-table",
        "actions.postgres",
        "lock_table",
        after=var("fault_settle_s"),
        table="orders",
        mode="ACCESS EXCLUSIVE",
        hold_s=var("lock_limit_s"),
    )
    return failure(
        title="The orders table locked under load: orders fail fast, refused ones stay refused",
        description=(
            "A session of its own holds LOCK TABLE orders IN ACCESS EXCLUSIVE MODE for fault_s "
            "(its holder process is in the fault ledger, so recover kills it) while Locust "
            "plays the customers. Operators expect orders to fail fast with 503 (within 2 s) "
            "instead of queueing until the pool is dry, the dashboard to keep serving the "
            "cache, an order refused with 503 never to be committed once the lock goes, no "
            "acknowledged order lost, the cache one pass whole, and orders within the normal "
            "bounds within 5 s of the release, without an API restart."
        ),
        tags=["failure-injection", "grey-failure", "postgresql", "lock"],
        fault=[lock],
        during=[
            answer("orders-fail-fast-with-503", "order-refused", var("answer_bound_ms")),
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            probe(
                "refused-orders-placed",
                "probes.orders",
                "place_refused_orders",
                count=3,
                timeout_s=var("request_timeout_s"),
            ),
            load_within(
                "failed-orders-failed-fast",
                "fault_s",
                ORDERS,
                p99_ms=var("answer_bound_ms"),
                before=var("fault_s"),
            ),
            *fault_window(),
        ],
        revert=action("unlock-orders-table", "actions.postgres", "unlock_table", table="orders"),
        after_revert=[
            probe("the-cache-is-one-pass-whole", "probes.postgres", "dashboard_is_one_snapshot"),
        ],
        after_recovery=[
            probe("refused-orders-are-not-stored", "probes.orders", "refused_orders_not_stored"),
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            API_NOT_RESTARTED,
        ],
        # A lock outlives no run: its holder lets go by itself after lock_limit_s.
        configuration={"recovery_deadline_s": 5, "lock_limit_s": 300},
    )


def exhaust_postgres_connections() -> dict[str, Any]:
    exhaust = action(
        "exhaust-postgres-connections",
        "actions.postgres",
        "exhaust_connections",
        after=var("fault_settle_s"),
        hold_s=var("hold_limit_s"),
    )
    return failure(
        title=(
            "Every free PostgreSQL connection taken by another client: the pool keeps serving, "
            "the rest fails fast"
        ),
        description=(
            "A holder process of its own (in the fault ledger, so recover kills it) opens "
            "connections until PostgreSQL refuses one for want of a slot (max_connections less "
            "the reserved ones) and holds them for fault_s while Locust plays the customers. "
            "Operators expect the API to keep serving with the connections its pool already "
            "holds (orders accepted, the dashboard served), work that needs a new connection "
            "to answer 503 (never 500, never a hang), and the API to recover by itself once "
            "the slots are given back, without a restart and without losing an acknowledged "
            "order."
        ),
        tags=["failure-injection", "grey-failure", "postgresql", "connections"],
        fault=[exhaust],
        during=[
            probe("new-connections-are-refused", "probes.postgres", "new_connections_refused"),
            answer("orders-are-still-accepted", "order-accepted", var("answer_bound_ms")),
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            answer("readyz-answers-within-bound", "readyz-answers", var("answer_bound_ms")),
            healthy_load(
                "load-orders-keep-succeeding-during-the-fault",
                "fault_s",
                ORDERS,
                before=var("fault_s"),
            ),
            *fault_window(),
        ],
        revert=action("release-postgres-connections", "actions.postgres", "release_connections"),
        after_recovery=[
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            API_NOT_RESTARTED,
        ],
        # The slots outlive no run: the holder lets go by itself after hold_limit_s.
        configuration={"hold_limit_s": 300},
    )


def postgres_read_only() -> dict[str, Any]:
    return failure(
        title=(
            "The database turned read-only (a failover to a replica): orders refused with a "
            "reason, readiness says why"
        ),
        description=(
            "ALTER DATABASE <db> SET default_transaction_read_only = on, then the database's "
            "client sessions terminated so that they reconnect read-only (the fault ledger "
            "records what to RESET first), for fault_s while Locust plays the customers: what "
            "a failover to a replica looks like to the API. Operators expect orders to be "
            "refused with 503 and a JSON reason, fast (within 2 s), /readyz to answer 503 "
            "saying the database is read-only, the dashboard to be served from the cache; "
            "once the setting is RESET (and the sessions ended again so that they reconnect "
            "writable) the API to recover by itself, without a restart and without losing an "
            "acknowledged order."
        ),
        tags=["failure-injection", "grey-failure", "postgresql", "failover"],
        fault=[
            action(
                "make-postgres-read-only",
                "actions.postgres",
                "make_read_only",
                after=var("fault_settle_s"),
                terminate_sessions=True,
            )
        ],
        during=[
            answer(
                "orders-refused-with-a-reason",
                "order-refused-with-a-reason",
                var("answer_bound_ms"),
            ),
            answer(
                "readyz-says-the-database-is-read-only",
                "readyz-says-read-only",
                var("answer_bound_ms"),
            ),
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            load_within(
                "failed-orders-failed-fast",
                "fault_s",
                ORDERS,
                p99_ms=var("answer_bound_ms"),
                before=var("fault_s"),
            ),
            *fault_window(),
        ],
        revert=action("make-postgres-writable-again", "actions.postgres", "make_writable"),
        after_recovery=[
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            API_NOT_RESTARTED,
        ],
    )


def pause_redis() -> dict[str, Any]:
    def pause(mode: str, window: str) -> dict[str, Any]:
        return action(
            f"pause-redis-{mode.lower()}",
            "actions.redis",
            "pause_redis",
            mode=mode,
            pause_s=var(window),
        )

    unpause = action("unpause-redis", "actions.redis", "unpause_redis")
    return failure(
        title="Redis paused (CLIENT PAUSE WRITE, then ALL): answers stay bounded, passes resume",
        description=(
            "Pauses Redis's clients with its own CLIENT PAUSE while Locust plays the customers: "
            "first its writes for fault_s (the aggregator's writes wait, reads go on), then "
            "every command for stall_s (Redis is up and connected but answers nothing). "
            "Operators expect bounded answers and only 200 or 503 throughout: the dashboard "
            "served while writes are paused, 503 with a reason within 2 s while everything is; "
            "orders accepted all along; the aggregator's next pass completes after the pause "
            "(a marker order on the dashboard and in a push)."
        ),
        tags=["failure-injection", "grey-failure", "redis"],
        fault=[pause("WRITE", "fault_s")],
        during=[
            answer(
                "dashboard-served-while-writes-pause", "dashboard-served", var("answer_bound_ms")
            ),
            answer("orders-accepted-while-writes-pause", "order-accepted", var("answer_bound_ms")),
            *fault_window(before=var("fault_s")),
            {**unpause, "name": "unpause-redis-writes"},
            pause("ALL", "stall_s"),
            answer("readyz-names-redis", "readyz-names-redis", var("answer_bound_ms")),
            answer(
                "dashboard-answers-503-with-a-reason", "dashboard-refused", var("answer_bound_ms")
            ),
            answer("orders-are-still-accepted", "order-accepted", var("answer_bound_ms")),
            *fault_window("stall_s", before=var("stall_s")),
        ],
        revert=unpause,
        after_revert=[
            marker_shown("the-aggregator-passes-again", "fresh_within_s", "pushed_within_s"),
        ],
        after_recovery=[API_NOT_RESTARTED],
        configuration={
            **FRESHNESS_CONFIG,
            "stall_s": 30,
            "user_classes": CUSTOMERS_AND_VIEWERS + ",DashboardWatcher=1",
        },
    )


def redis_out_of_memory() -> dict[str, Any]:
    limit = action(
        "fill-redis",
        "actions.redis",
        "limit_redis_memory",
        after=var("fault_settle_s"),
        share_of_used=var("share_of_used"),
    )
    return failure(
        title="Redis full (maxmemory under its use, noeviction): the last figures stay served",
        description=(
            "Lowers Redis's maxmemory below the memory it uses, with the noeviction policy "
            "(CONFIG SET; the previous values are in the fault ledger first, and set back by "
            "the revert), while Locust plays the customers: Redis answers reads and refuses "
            "every write with OOM. Operators expect the aggregator's writes to fail whole (its "
            "atomic update holds, no half-updated or emptied cache), the dashboard to keep "
            "serving the last complete figures, orders accepted, /readyz 200 (the documented "
            "policy: Redis answers, the API can serve), only 200 or 503; after the restore the "
            "aggregator's next pass shows a marker on the dashboard and in a push, without an "
            "API restart."
        ),
        tags=["failure-injection", "grey-failure", "redis", "memory"],
        fault=[limit],
        during=[
            probe(
                "the-aggregators-writes-are-refused",
                "probes.redis",
                "writes_refused_for_memory",
                within_s=var("fresh_within_s"),
            ),
            answer("readyz-stays-ready", "readyz-ready", var("answer_bound_ms")),
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            answer("orders-are-still-accepted", "order-accepted", var("answer_bound_ms")),
            probe("the-cache-is-one-pass-whole", "probes.postgres", "dashboard_is_one_snapshot"),
            probe(
                "dashboard-serves-the-last-figures",
                "probes.freshness",
                "dashboard_stays_stale",
                for_s=var("fault_s"),
            ),
            healthy_load("load-is-healthy-during-the-fault", "fault_s"),
            *fault_window(near_baseline=True),
        ],
        revert=action("restore-redis-memory", "actions.redis", "restore_redis_memory"),
        after_revert=[
            marker_shown("the-aggregator-passes-again", "fresh_within_s", "pushed_within_s"),
        ],
        after_recovery=[API_NOT_RESTARTED],
        configuration={
            **FRESHNESS_CONFIG,
            **NEAR_BASELINE_CONFIG,
            "share_of_used": 0.5,
            "user_classes": CUSTOMERS_AND_VIEWERS + ",DashboardWatcher=1",
        },
    )


def flapping_redis() -> dict[str, Any]:
    flap = action(
        "flap-redis",
        "actions.services",
        "flap_service",
        after=var("fault_settle_s"),
        service="redis",
        period_s=var("period_s"),
        down_s=var("down_s"),
        fault_s=var("fault_s"),
    )
    return failure(
        title="Redis flapping under load: failures only while it is down, no API restart",
        description=(
            "Kills Redis (SIGKILL, recorded in the fault ledger as a kill is) every period_s "
            "and starts it again down_s later, for fault_s, while Locust plays the customers. "
            "Operators expect the API never to need a restart: the dashboard fails (503 with a "
            "reason, only 200 or 503) no more than the share of the time Redis was down plus "
            "down_share_margin, orders keep succeeding, answers keep their pace; afterwards "
            "the dashboard and its WebSocket pushes show new orders again, and the API process "
            "is the one that started before the load."
        ),
        tags=["failure-injection", "grey-failure", "redis", "flapping"],
        fault=[flap],
        during=[
            probe(
                "dashboard-failures-within-the-down-share",
                "probes.services",
                "failures_within_down_share",
                margin=var("down_share_margin"),
                endpoint=DASHBOARD,
            ),
            healthy_load("load-orders-keep-succeeding-during-the-fault", "fault_s", ORDERS),
            *fault_window(near_baseline=True),
        ],
        revert=service_action("start", "redis"),
        after_recovery=[
            marker_shown("dashboard-and-pushes-fresh-again", "fresh_within_s", "pushed_within_s"),
            API_NOT_RESTARTED,
        ],
        configuration={
            **FRESHNESS_CONFIG,
            **NEAR_BASELINE_CONFIG,
            "period_s": 15,
            "down_s": 5,
            "down_share_margin": 0.1,
            "user_classes": CUSTOMERS_AND_VIEWERS + ",DashboardWatcher=1",
        },
    )


# A starved host (its CPUs, its memory) is absorbed, not failed: every answer 200, and the
# P99 of the fault window at most 3 x the baseline window's (of the same run), or 100 ms
# (half the steady-state threshold), whichever is larger. Operators accept a slower café
# while the host is busy, not one that turns a busy host into a queue (docs/results.md: the
# healthy café measured 5.2 x, 24 ms, under cpu-starvation; a CPU-bound handler 33 x).
HOST_STARVED_CONFIG = {
    "p99_during_fault_ms": {"max_ratio_of_baseline": 3, "floor_ms": 100},
    # the stressor outlives no run: stress-ng stops by itself after stress_limit_s (+5 s)
    "stress_limit_s": 300,
}
ONLY_200 = [101, 200]


def starve_host(resource: str) -> dict[str, Any]:
    """stress-ng starves the API's CPUs, or holds a share of the host's memory, for fault_s;
    killing its process group is the revert."""
    if resource == "cpu":
        fault = action(
            "starve-the-apis-cpus",
            "actions.host",
            "starve_cpu",
            after=var("fault_settle_s"),
            hold_s=var("stress_limit_s"),
            load_pct=var("cpu_load_pct"),
            workers_per_cpu=var("cpu_workers_per_cpu"),
            nice=var("cpu_nice"),
        )
        watch: list[dict[str, Any]] = []
        wait = {"before": var("fault_s")}
        # a neighbour that weighs ten times the API's group (nice -10): the API's CPUs starved
        config = {"cpu_load_pct": 100, "cpu_workers_per_cpu": 1, "cpu_nice": -10}
    else:
        fault = action(
            "take-the-hosts-memory",
            "actions.host",
            "take_memory",
            after=var("fault_settle_s"),
            hold_s=var("stress_limit_s"),
            share_of_available=var("share_of_available"),
        )
        # A process that grows while the host is short of memory is the OOM killer's next.
        watch = [
            probe(
                "the-apis-memory-stays-bounded",
                "probes.process",
                "process_usage_over",
                service="api",
                duration_s=var("fault_s"),
                interval_s=1,
                max_peak_growth_mb=var("api_growth_mb"),
            )
        ]
        wait = {}
        config = {"share_of_available": 0.25, "api_growth_mb": 8}
    return failure(
        title=(
            f"The host starved of {'CPU' if resource == 'cpu' else 'memory'} under load: "
            "every answer 200, P99 within a stated factor of the baseline"
        ),
        description=(
            (
                "Runs cpu_workers_per_cpu stress-ng CPU workers on each CPU the API's process "
                "may run on (pinned to its affinity), cpu_load_pct % busy, at priority cpu_nice "
                "(its own and its session's scheduling group's: it weighs about ten times the "
                "API's), "
                if resource == "cpu"
                else "Runs a stress-ng VM worker that touches share_of_available of the host's "
                "MemAvailable and holds it (refused above half of it, and the OOM killer takes "
                "it first), "
            )
            + "as a process group the fault ledger records before it starts, for fault_s while "
            "Locust plays the customers; killing the group is the revert (stress-ng's own "
            "--timeout is the second guard). Operators expect a slower café, not a failing "
            "one: every answer 200, the P99 of the fault window within p99_during_fault_ms "
            "(3 x the baseline's, or 100 ms), answers at their pace"
            + (
                ", the API's own memory not growing by more than api_growth_mb (a process that "
                "grows while memory is short is the OOM killer's next)"
                if resource == "memory"
                else ""
            )
            + "; no stress-ng process left after the revert, and the API recovered without a "
            "restart."
        ),
        tags=["failure-injection", "grey-failure", "host", resource],
        fault=[fault],
        during=[
            *watch,
            load_within(
                "p99-within-the-factor-of-the-baseline",
                "fault_s",
                p99_ms=var("p99_during_fault_ms"),
                **wait,
            ),
            load_within(
                "answers-keep-their-pace-during-the-fault",
                "fault_s",
                keeps_pace_at_ms=var("answer_bound_ms"),
            ),
            probe(
                "no-answer-but-200-during-the-fault",
                "probes.load",
                "unexpected_answers",
                window_s=var("fault_s"),
                allowed=ONLY_200,
            ),
        ],
        revert=action(
            f"stop-the-{resource}-stressor", "actions.host", "stop_stressor", stressor=resource
        ),
        after_revert=[probe("no-stressor-left", "probes.process", "no_stressor_left")],
        after_recovery=[API_NOT_RESTARTED],
        configuration={**HOST_STARVED_CONFIG, **config},
    )


def reset_connections(service: str) -> dict[str, Any]:
    """The proxy's reset_peer toxic, laid anew every reset_period_s for fault_s: each time,
    every open connection to ``service`` is reset with probability ``toxicity``."""
    word, name = spelling(service), NAMES[service]
    # The requests that need the dependency, and those that do not (they must not fail).
    needs, spared = (ORDERS, DASHBOARD) if service == "postgresql" else (DASHBOARD, ORDERS)
    # Redis serves the dashboard only: enough viewers that its ratio means something (two
    # made 18 to 20 requests in the quick profile's 20 s, and a reset hit none in one run).
    viewers = {"user_classes": CUSTOMERS + ",DashboardViewer=12"} if service == "redis" else {}
    network = {"dependency": service, "backend": "proxy"}
    reset = action(
        f"reset-{word}-connections",
        "actions.network",
        "reset_connections",
        after=var("fault_settle_s"),
        toxicity=var("toxicity"),
        period_s=var("reset_period_s"),
        fault_s=var("fault_s"),
        **network,
    )
    return failure(
        title=(
            f"{name} connections reset (a share of them, again and again): only the requests "
            "on them fail, the pool replaces them"
        ),
        description=(
            f"The fault proxy resets the API's connections to {name} (TCP RST, Toxiproxy's "
            "reset_peer toxic) with probability toxicity per connection, laid anew every "
            "reset_period_s for fault_s so that a pool's long-lived connections roll again "
            "each time (and every new connection rolls once), while Locust plays the "
            f"customers. Operators expect failures limited to the affected requests: those "
            f"that need {name} fail at most toxicity x toxicity_margin of the time (a request "
            "fails only on a connection that was reset, once: the pool must replace it), "
            "those that do not need it keep succeeding, only 200 or 503; after the revert "
            "the connections are re-established: orders and the dashboard within the normal "
            "bounds within recovery_deadline_s, without an API restart."
        ),
        tags=["failure-injection", "grey-failure", "network", service],
        fault=[reset],
        during=[
            probe(
                "failures-limited-to-the-affected-requests",
                "probes.load",
                "failures_within_share",
                window_s=var("fault_s"),
                share=var("toxicity"),
                margin=var("toxicity_margin"),
                endpoint=needs,
            ),
            healthy_load("requests-that-do-not-need-it-succeed", "fault_s", spared),
            *fault_window(),
        ],
        revert=action(
            f"remove-faults-on-{word}",
            "actions.network",
            "remove_network_faults",
            dependency=service,
        ),
        after_recovery=[API_NOT_RESTARTED],
        configuration={
            "toxicity": 0.5,
            "reset_period_s": 5,
            "toxicity_margin": 1,
            "recovery_deadline_s": 5,
            **viewers,
        },
    )


def bandwidth_postgres() -> dict[str, Any]:
    limit = action(
        "limit-postgres-bandwidth",
        "actions.network",
        "limit_bandwidth",
        after=var("fault_settle_s"),
        dependency="postgresql",
        rate_kbps=var("rate_kbps"),
        backend="proxy",
    )

    def kept_or_fast(name: str, endpoint: str) -> dict[str, Any]:
        return probe(
            name,
            "probes.load",
            "within_bounds_or_fail_fast",
            before=var("fault_s") if endpoint == ORDERS else None,
            window_s=var("fault_s"),
            p99_ms=var("p99_threshold_ms"),
            max_failure_ratio=var("max_failure_ratio"),
            fail_fast_ms=var("answer_bound_ms"),
            endpoint=endpoint,
        )

    return failure(
        title="PostgreSQL's replies at a trickle (low bandwidth): bounds kept or fast failures",
        description=(
            "The fault proxy passes PostgreSQL's replies to the API at rate_kbps KB/s per "
            "connection (Toxiproxy's bandwidth toxic on the downstream) for fault_s while "
            "Locust plays the customers. Operators expect orders and the dashboard either to "
            "keep their bounds (P99 under p99_threshold_ms, failures under max_failure_ratio) "
            "or to fail fast (503 within answer_bound_ms, the API's dependency timeout and a "
            "margin), only 200 or 503, /readyz answering within its bound; and no stuck pool: "
            "after the revert, orders within the normal bounds within recovery_deadline_s, "
            "without an API restart."
        ),
        tags=["failure-injection", "grey-failure", "network", "postgresql"],
        fault=[limit],
        during=[
            answer("readyz-answers-within-bound", "readyz-answers", var("answer_bound_ms")),
            kept_or_fast("orders-keep-their-bounds-or-fail-fast", ORDERS),
            kept_or_fast("dashboard-keeps-its-bounds-or-fails-fast", DASHBOARD),
            *fault_window(),
        ],
        revert=action(
            "remove-faults-on-postgres",
            "actions.network",
            "remove_network_faults",
            dependency="postgresql",
        ),
        after_recovery=[
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            API_NOT_RESTARTED,
        ],
        configuration={"rate_kbps": 1, "recovery_deadline_s": 5},
    )


EXPERIMENTS = {
    "freeze-redis": lambda: freeze_dependency("redis"),
    "freeze-postgres": lambda: freeze_dependency("postgresql"),
    "lock-orders-table": lock_orders_table,
    "exhaust-postgres-connections": exhaust_postgres_connections,
    "postgres-read-only": postgres_read_only,
    "pause-redis": pause_redis,
    "redis-out-of-memory": redis_out_of_memory,
    "flapping-redis": flapping_redis,
    "reset-redis-connections": lambda: reset_connections("redis"),
    "reset-postgres-connections": lambda: reset_connections("postgresql"),
    "bandwidth-postgres": bandwidth_postgres,
    "cpu-starvation": lambda: starve_host("cpu"),
    "memory-pressure": lambda: starve_host("memory"),
}
# The café flaws each experiment must catch, and the method probe that must fail on each.
CATCHES = {
    "freeze-redis": {
        "redis-reads-unbounded": "dashboard-answers-503-with-a-reason",
        "no-dependency-timeouts": "dashboard-answers-503-with-a-reason",
    },
    "freeze-postgres": {
        "postgres-statements-unbounded": "failed-orders-failed-fast",
        "no-dependency-timeouts": "orders-fail-fast-with-503",
    },
    "lock-orders-table": {
        "no-server-statement-timeout": "refused-orders-are-not-stored",
        "postgres-statements-unbounded": "orders-fail-fast-with-503",
    },
    "exhaust-postgres-connections": {
        "connection-per-request": "orders-are-still-accepted",
    },
    "postgres-read-only": {
        "readiness-ignores-read-only": "readyz-says-the-database-is-read-only",
    },
    "pause-redis": {
        "aggregator-stops-after-redis-error": "the-aggregator-passes-again",
        "redis-reads-unbounded": "dashboard-answers-503-with-a-reason",
    },
    "redis-out-of-memory": {
        "cache-cleared-before-write": "dashboard-serves-the-last-figures",
        "aggregator-stops-after-redis-error": "the-aggregator-passes-again",
    },
    "flapping-redis": {
        "redis-breaker-never-closes": "dashboard-failures-within-the-down-share",
        "500-on-dependency-failure": "no-answer-but-200-or-503-during-the-fault",
    },
    "reset-redis-connections": {
        "redis-breaker-never-closes": "failures-limited-to-the-affected-requests",
    },
    "reset-postgres-connections": {
        "no-reconnect": "failures-limited-to-the-affected-requests",
    },
    "bandwidth-postgres": {
        "connection-per-request": "orders-keep-their-bounds-or-fail-fast",
    },
    "cpu-starvation": {"cpu-heavy-handler": "p99-within-the-factor-of-the-baseline"},
    "memory-pressure": {"memory-per-request": "the-apis-memory-stays-bounded"},
}
