"""Failure injection: load, a healthy baseline, the fault, what must hold during it, the revert,
the recovery and a healthy window after it. The rollbacks replay the revert."""

from __future__ import annotations

from typing import Any

from .blocks import (
    CUSTOMERS_AND_VIEWERS,
    DASHBOARD,
    LOAD_CONFIG,
    ORDERS,
    STOP_LOAD,
    action,
    expect,
    experiment,
    healthy_load,
    only_200_or_503,
    p99_at_most,
    probe,
    ref,
    service_action,
    spelling,
    start_load,
    var,
)

FAILURE_CONFIG = {
    "user_classes": CUSTOMERS_AND_VIEWERS,
    "baseline_s": 60,
    "fault_settle_s": 3,
    "fault_s": 120,
    "recovery_deadline_s": 10,
    "recovery_settle_s": 3,
    "recovery_window_s": 60,
}


def failure(
    title: str,
    description: str,
    tags: list[str],
    fault: list[dict[str, Any]],
    during: list[dict[str, Any]],
    revert: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    before_fault: list[dict[str, Any]] | None = None,
    after_revert: list[dict[str, Any]] | None = None,
    after_recovery: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The failure family's skeleton; each member fills in its fault and expectations."""
    method = [
        start_load(),
        healthy_load("load-is-healthy-before-the-fault", "baseline_s", before=var("baseline_s")),
        *(before_fault or []),
        *fault,
        *during,
        revert,
        *(after_revert or []),
        probe(
            "time-to-recover",
            "probes.http",
            "time_to_recover",
            after=var("recovery_settle_s"),
            deadline_s=var("recovery_deadline_s"),
        ),
        healthy_load(
            "load-is-healthy-after-recovery", "recovery_window_s", before=var("recovery_window_s")
        ),
        *(after_recovery or []),
        STOP_LOAD,
    ]
    config = {**LOAD_CONFIG, **FAILURE_CONFIG, **(configuration or {})}
    return experiment(title, description, tags, config, method, [ref(revert), ref(STOP_LOAD)])


def kill_dependency(service: str, **kwargs: Any) -> dict[str, Any]:
    """SIGKILL a dependency of the API under load; starting it again is the revert."""
    kill = service_action("kill", service, after=var("fault_settle_s"))
    return failure(fault=[kill], revert=service_action("start", service), **kwargs)


def delay_dependency(dependency: str) -> dict[str, Any]:
    """Latency with jitter, then a stall, on the API's connections to ``dependency``."""
    word = spelling(dependency)
    network = {"dependency": dependency}
    backend = {"backend": var("network_backend")}
    latency = action(
        f"add-latency-to-{word}",
        "actions.network",
        "add_latency",
        after=var("fault_settle_s"),
        **network,
        latency_ms=var("latency_ms"),
        jitter_ms=var("jitter_ms"),
        **backend,
    )
    stall = action(
        f"add-timeout-to-{word}",
        "actions.network",
        "add_timeout",
        after=var("fault_settle_s"),
        **network,
        timeout_ms=0,
        **backend,
    )
    return failure(
        title=f"Latency and a stall between the API and {dependency}: timeouts are handled",
        description=(
            f"Adds latency with jitter, then a stall (connections hang), to the API's "
            f"connections to {dependency}, through the lab's Toxiproxy-compatible fault proxy "
            "(or tc netem on real hosts). Operators expect timeouts to be handled: answers stay "
            "bounded, no hang, no pile-up, only 200 or 503; P99 returns under the threshold "
            "after removal."
        ),
        tags=["failure-injection", "network", dependency],
        fault=[latency],
        during=[
            expect(
                "readyz-answers-within-bound",
                "readyz_answers_within",
                max_ms=var("answer_bound_ms"),
            ),
            p99_at_most(
                "answers-stay-bounded", "fault_s", var("answer_bound_ms"), before=var("fault_s")
            ),
            only_200_or_503("no-answer-but-200-or-503-during-the-fault", "fault_s"),
            stall,
            p99_at_most(
                "stalled-dependency-answers-stay-bounded",
                "stall_s",
                var("stall_bound_ms"),
                before=var("fault_s"),
            ),
        ],
        revert=action(
            f"remove-faults-on-{word}", "actions.network", "remove_network_faults", **network
        ),
        configuration={
            "latency_ms": 300,
            "jitter_ms": 100,
            "network_backend": "auto",
            "answer_bound_ms": 2500,
            "stall_s": 30,
            "stall_bound_ms": 2500,
        },
    )


def kill_aggregator(fault: dict[str, Any], title: str, description: str) -> dict[str, Any]:
    """The aggregator dies: the stale cache is served; freshness returns after its restart."""
    return failure(
        title=title,
        description=description,
        tags=["failure-injection", "aggregator"],
        before_fault=[
            expect(
                "dashboard-cache-is-fresh-before",
                "dashboard_is_fresh",
                max_age_s=var("fresh_max_age_s"),
            )
        ],
        fault=[fault],
        during=[
            expect("dashboard-serves-the-cache", "dashboard_is_served", max_ms=2000),
            expect(
                "dashboard-goes-stale-but-answers-200",
                "dashboard_is_stale_but_served",
                before=var("fault_s"),
                min_age_s=var("stale_min_age_s"),
            ),
            healthy_load("load-dashboard-answers-200-during-the-fault", "fault_s", DASHBOARD),
        ],
        revert=service_action("start", "aggregator"),
        after_revert=[
            expect(
                "freshness-returns",
                "dashboard_becomes_fresh",
                within_s=var("freshness_deadline_s"),
                max_age_s=var("fresh_max_age_s"),
            )
        ],
        configuration={
            "fault_s": 60,
            "stale_min_age_s": 15,
            "fresh_max_age_s": 25,
            "freshness_deadline_s": 30,
        },
    )


EXPERIMENTS = {
    "kill-redis": lambda: kill_dependency(
        "redis",
        title="Redis killed under load: the API fails gracefully and recovers by itself",
        description=(
            "Kills Redis (SIGKILL) while Locust plays the customers. Operators expect: the API "
            "fails gracefully (the dashboard answers 503 with a reason, no 5xx other than 503), "
            "orders are still accepted, /readyz answers 503 naming redis; once Redis is back "
            "the API recovers by itself and P99 returns under the threshold."
        ),
        tags=["failure-injection", "redis"],
        during=[
            expect("readyz-names-redis", "readyz_names_failure", dependency="redis"),
            expect(
                "dashboard-answers-503-with-a-reason", "dashboard_fails_gracefully", max_ms=2000
            ),
            expect("orders-are-still-accepted", "order_is_accepted", max_ms=2000),
            healthy_load(
                "load-orders-keep-succeeding-during-the-fault",
                "fault_s",
                ORDERS,
                before=var("fault_s"),
            ),
            only_200_or_503("no-answer-but-200-or-503-during-the-fault", "fault_s"),
        ],
    ),
    "kill-postgres": lambda: kill_dependency(
        "postgresql",
        title="PostgreSQL killed under load: orders fail fast, nothing acknowledged is lost",
        description=(
            "Kills PostgreSQL (SIGKILL) while Locust plays the customers. Operators expect: "
            "orders fail fast with 503 (within 2 s, never a hang), /readyz answers 503 naming "
            "the database, the dashboard keeps serving the cache; once PostgreSQL is back the "
            "API recovers without a restart and every order it acknowledged is in the database."
        ),
        tags=["failure-injection", "postgresql"],
        during=[
            expect("readyz-names-the-database", "readyz_names_failure", dependency="postgresql"),
            expect("orders-fail-fast-with-503", "order_fails_fast", max_ms=2000),
            expect("dashboard-serves-the-cache", "dashboard_is_served", max_ms=2000),
            only_200_or_503(
                "no-answer-but-200-or-503-during-the-fault", "fault_s", before=var("fault_s")
            ),
            p99_at_most("failed-orders-failed-fast", "fault_s", 2000, ORDERS),
        ],
        after_recovery=[
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            expect(
                "api-recovered-without-a-restart", "api_not_restarted_during_load", service="api"
            ),
        ],
    ),
    "kill-aggregator": lambda: kill_aggregator(
        service_action("kill", "aggregator", after=var("fault_settle_s")),
        title="Aggregator killed: the stale cache is served, freshness returns after restart",
        description=(
            "Kills the aggregator (SIGKILL) while orders keep arriving. Operators expect the "
            "dashboard to keep answering 200 from the stale cache while orders newer than the "
            "cache pile up, and freshness to return once the aggregator is back."
        ),
    ),
    "kill-aggregator-mid-pass": lambda: kill_aggregator(
        action(
            "kill-aggregator-mid-pass",
            "actions.services",
            "kill_aggregator_mid_pass",
            after=var("fault_settle_s"),
        ),
        title=(
            "Aggregator crashes in the middle of a pass: the previous cache stays whole and "
            "is served"
        ),
        description=(
            "Kills the aggregator (SIGKILL) while a pass is computing (the reference café "
            "exposes aggregator_pass_in_progress; elsewhere the kill lands at a random point). "
            "Operators expect the previous cache to stay whole and be served, the dashboard to "
            "answer 200, and freshness to return after the restart."
        ),
    ),
    "delay-redis": lambda: delay_dependency("redis"),
    "delay-postgres": lambda: delay_dependency("postgresql"),
}
