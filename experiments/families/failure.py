"""Failure injection: load, a healthy baseline, the fault, what must hold during it, the revert,
the recovery and a healthy window after it. The rollbacks replay the revert.

Every member judges the fault window the same way besides its own expectations: the load
keeps answering at a pace near the baseline's (a hang is not a graceful failure) and with
nothing but 200 or 503.
"""

from __future__ import annotations

from typing import Any

from .blocks import (
    CUSTOMERS_AND_VIEWERS,
    DASHBOARD,
    LOAD_CONFIG,
    ONLY_200_OR_503,
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
    # What the operators allow an answer during the fault: orders fail fast, within 2 s.
    # Answers keep (at least) the pace customers keep when each takes that long: one that
    # hangs, so that its customers stop asking, does not.
    "answer_bound_ms": 2000,
}
# A fault that the system absorbs (Redis or the aggregator killed) keeps its answers near
# their pace before the fault: the P99 of the fault window at most 5 x the baseline
# window's (of the same run), or 50 ms, whichever is larger. Relative, so a slower machine
# reaches the same verdict. Not where the operators gave a number (kill-postgres: 2 s).
NEAR_BASELINE_CONFIG = {"p99_during_fault_ms": {"max_ratio_of_baseline": 5, "floor_ms": 50}}
# The aggregator writes every 10 s and the WebSocket pushes every 10 s: a marker order is
# on the dashboard within one interval plus a margin, and in a push one interval later.
FRESHNESS_CONFIG = {"fresh_within_s": 15, "pushed_within_s": 25}


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
        healthy_load(
            "load-is-healthy-before-the-fault",
            "baseline_s",
            before=var("baseline_s"),
            save_as_baseline=True,
        ),
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


def fault_window(
    window: str = "fault_s", near_baseline: bool = False, **pauses: Any
) -> list[dict[str, Any]]:
    """What every fault window must show: answers keep their pace, and only 200 or 503; with
    ``near_baseline``, a P99 within ``p99_during_fault_ms`` of the baseline's (a kill the
    system absorbs; not a delay, whose latency is the fault itself)."""
    near = [
        load_within(
            f"p99-near-the-baseline-{_during(window)}",
            window,
            p99_ms=var("p99_during_fault_ms"),
            **pauses,
        )
    ]
    return [
        *(near if near_baseline else []),
        load_within(
            f"answers-keep-their-pace-{_during(window)}",
            window,
            keeps_pace_at_ms=var("answer_bound_ms"),
            **pauses,
        ),
        only_200_or_503(f"no-answer-but-200-or-503-{_during(window)}", window),
    ]


def _during(window: str) -> str:
    return "during-the-stall" if window == "stall_s" else "during-the-fault"


def kill_dependency(service: str, **kwargs: Any) -> dict[str, Any]:
    """SIGKILL a dependency of the API under load; starting it again is the revert."""
    kill = service_action("kill", service, after=var("fault_settle_s"))
    return failure(fault=[kill], revert=service_action("start", service), **kwargs)


def delay_dependency(dependency: str) -> dict[str, Any]:
    """Latency with jitter, then a stall, on the API's connections to ``dependency``."""
    word = spelling(dependency)
    network = {"dependency": dependency, "backend": var("network_backend")}
    latency = action(
        f"add-latency-to-{word}",
        "actions.network",
        "add_latency",
        after=var("fault_settle_s"),
        latency_ms=var("latency_ms"),
        jitter_ms=var("jitter_ms"),
        **network,
    )
    stall = action(
        f"add-timeout-to-{word}",
        "actions.network",
        "add_timeout",
        after=var("fault_settle_s"),
        timeout_ms=0,
        **network,
    )
    bound = {"p99_ms": var("answer_bound_ms")}
    return failure(
        title=f"Latency and a stall between the API and {dependency}: timeouts are handled",
        description=(
            f"Adds latency with jitter, then a stall (connections hang), to the API's "
            f"connections to {dependency}, through the lab's Toxiproxy-compatible fault proxy "
            "(or tc netem on real hosts). Operators expect timeouts to be handled: answers stay "
            "bounded (requests still open count at their age), no hang, no pile-up, answers "
            "keep coming, only 200 or 503; P99 returns under the threshold after removal."
        ),
        tags=["failure-injection", "network", dependency],
        fault=[latency],
        during=[
            answer("readyz-answers-within-bound", "readyz-answers", var("answer_bound_ms")),
            load_within("answers-stay-bounded", "fault_s", before=var("fault_s"), **bound),
            *fault_window(),
            stall,
            load_within(
                "stalled-dependency-answers-stay-bounded",
                "stall_s",
                before=var("fault_s"),
                **bound,
            ),
            *fault_window("stall_s"),
        ],
        revert=action(
            f"remove-faults-on-{word}",
            "actions.network",
            "remove_network_faults",
            dependency=dependency,
        ),
        configuration={
            "latency_ms": 300,
            "jitter_ms": 100,
            "network_backend": "auto",
            "answer_bound_ms": 2500,
            "stall_s": 30,
        },
    )


def kill_aggregator(
    fault: dict[str, Any], title: str, description: str, configuration: dict | None = None
) -> dict[str, Any]:
    """The aggregator dies: the stale cache is served whole; freshness returns after its
    restart, on the dashboard and in the WebSocket push."""
    return failure(
        title=title,
        description=description,
        tags=["failure-injection", "aggregator"],
        before_fault=[marker_shown("dashboard-is-fresh-before", "fresh_within_s")],
        fault=[fault],
        during=[
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            probe("the-cache-is-one-pass-whole", "probes.postgres", "dashboard_is_one_snapshot"),
            probe(
                "dashboard-serves-the-stale-cache",
                "probes.freshness",
                "dashboard_stays_stale",
                for_s=var("fault_s"),
            ),
            healthy_load("load-dashboard-answers-200-during-the-fault", "fault_s", DASHBOARD),
            *fault_window(near_baseline=True),
        ],
        revert=service_action("start", "aggregator"),
        after_revert=[
            marker_shown("freshness-returns", "fresh_within_s", "pushed_within_s"),
        ],
        configuration={
            "fault_s": 60,
            **FRESHNESS_CONFIG,
            **NEAR_BASELINE_CONFIG,
            **(configuration or {}),
        },
    )


# What operators expect while Redis, or PostgreSQL, is gone (killed) or answers nothing
# (frozen): the same, since a hang must be turned into a fast failure by the API's timeouts.
def redis_outage(
    after_recovery: list[dict[str, Any]] | None = None, near_baseline: bool = True
) -> dict[str, Any]:
    """Redis gone: with ``near_baseline`` (a kill, refused at once), the P99 stays near the
    baseline's; a frozen Redis costs the API's dependency timeout, judged by the bounds."""
    near = NEAR_BASELINE_CONFIG if near_baseline else {}
    return {
        "during": [
            answer("readyz-names-redis", "readyz-names-redis", var("answer_bound_ms")),
            answer(
                "dashboard-answers-503-with-a-reason",
                "dashboard-refused",
                var("answer_bound_ms"),
            ),
            answer("orders-are-still-accepted", "order-accepted", var("answer_bound_ms")),
            healthy_load(
                "load-orders-keep-succeeding-during-the-fault",
                "fault_s",
                ORDERS,
                before=var("fault_s"),
            ),
            *fault_window(near_baseline=near_baseline),
        ],
        "after_recovery": [
            marker_shown("dashboard-and-pushes-fresh-again", "fresh_within_s", "pushed_within_s"),
            *(after_recovery or []),
        ],
        "configuration": {
            **FRESHNESS_CONFIG,
            **near,
            # a dashboard kept open on the WebSocket through the outage, as real ones are
            "user_classes": CUSTOMERS_AND_VIEWERS + ",DashboardWatcher=1",
        },
    }


def postgres_outage() -> dict[str, Any]:
    return {
        "during": [
            answer("readyz-names-the-database", "readyz-names-postgresql", var("answer_bound_ms")),
            answer("orders-fail-fast-with-503", "order-refused", var("answer_bound_ms")),
            answer("dashboard-serves-the-cache", "dashboard-served", var("answer_bound_ms")),
            load_within(
                "failed-orders-failed-fast",
                "fault_s",
                ORDERS,
                p99_ms=var("answer_bound_ms"),
                before=var("fault_s"),
            ),
            # not near the baseline: orders fail after the café's database timeout, within
            # the operators' own bound (answer_bound_ms), judged just above
            *fault_window(),
        ],
        "after_recovery": [
            probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders"),
            API_NOT_RESTARTED,
        ],
    }


NAMES = {"redis": "Redis", "postgresql": "PostgreSQL"}
API_NOT_RESTARTED = probe(
    "api-recovered-without-a-restart",
    "probes.services",
    "api_not_restarted_during_load",
    service="api",
)


def kill_redis() -> dict[str, Any]:
    return kill_dependency(
        "redis",
        title="Redis killed under load: the API fails gracefully and recovers by itself",
        description=(
            "Kills Redis (SIGKILL) while Locust plays the customers. Operators expect: the "
            "API fails gracefully (the dashboard answers 503 with a reason, no 5xx other "
            "than 503), orders are still accepted, /readyz answers 503 naming redis; once "
            "Redis is back the API recovers by itself, P99 returns under the threshold, and "
            "the dashboard and its WebSocket pushes show new orders again."
        ),
        tags=["failure-injection", "redis"],
        **redis_outage(),
    )


def kill_postgres() -> dict[str, Any]:
    return kill_dependency(
        "postgresql",
        title="PostgreSQL killed under load: orders fail fast, nothing acknowledged is lost",
        description=(
            "Kills PostgreSQL (SIGKILL) while Locust plays the customers. Operators expect: "
            "orders fail fast with 503 (within 2 s, never a hang), /readyz answers 503 "
            "naming the database, the dashboard keeps serving the cache; once PostgreSQL is "
            "back the API recovers without a restart and every order it acknowledged is in "
            "the database."
        ),
        tags=["failure-injection", "postgresql"],
        **postgres_outage(),
    )


def kill_aggregator_process() -> dict[str, Any]:
    return kill_aggregator(
        service_action("kill", "aggregator", after=var("fault_settle_s")),
        title="Aggregator killed: the stale cache is served, freshness returns after restart",
        description=(
            "Kills the aggregator (SIGKILL) while orders keep arriving. Operators expect the "
            "dashboard to keep answering 200 from the stale cache (the same figures, not "
            "emptied) while a marker order placed meanwhile stays unseen, and freshness to "
            "return once the aggregator is back: a new marker on the dashboard and in a "
            "WebSocket push."
        ),
    )


def kill_aggregator_mid_pass() -> dict[str, Any]:
    return kill_aggregator(
        action(
            "kill-aggregator-mid-pass",
            "actions.services",
            "kill_aggregator_mid_pass",
            into_pass_s=var("kill_into_pass_s"),
            after=var("fault_settle_s"),
        ),
        title=(
            "Aggregator crashes in the middle of a pass: the previous cache stays whole and "
            "is served"
        ),
        description=(
            "Kills the aggregator (SIGKILL) while a pass is computing (the reference café "
            "exposes aggregator_pass_in_progress; elsewhere the kill lands at a random "
            "point). Operators expect the previous cache to stay whole (the hour's count "
            "matches the orders up to the newest recent order: one pass, not half of two) "
            "and be served, the dashboard to answer 200, and freshness to return after the "
            "restart. The kill lands kill_into_pass_s into the pass: the lab holds each pass "
            "1 s (AGGREGATOR_HOLD_SECONDS); on another target, keep it under a pass's length."
        ),
        configuration={"kill_into_pass_s": 0.5},
    )


def kill_api_pod() -> dict[str, Any]:
    return failure(
        title=(
            "One API pod of several killed under load: failures within its share, "
            "readiness-gated, and its replacement ready in time"
        ),
        description=(
            "Kubernetes only. Kills one ready API pod of several (no grace period) while "
            "Locust plays the customers through the API's Service; its Deployment recreates "
            "it. Operators expect no more failures than the share of the traffic that pod held "
            "(1/N) while its endpoint is removed from the Service, the failure bound after "
            "that (the replacement takes traffic only once ready: readiness-gated pods), the "
            "replacement ready within replacement_bound_s, and P99 back under the threshold."
        ),
        tags=["failure-injection", "kubernetes", "api"],
        fault=[
            action(
                "kill-one-api-pod",
                "actions.services",
                "kill_one_pod",
                after=var("fault_settle_s"),
                service="api",
                timeout_s=var("replacement_bound_s"),
            )
        ],
        during=[
            probe(
                "failures-within-the-killed-pods-share",
                "probes.pods",
                "failures_within_killed_share",
                max_failure_ratio=var("max_failure_ratio"),
                replacement_within_s=var("replacement_bound_s"),
            )
        ],
        revert=service_action("start", "api"),
        configuration={"replacement_bound_s": 60},
    )


def kill_api() -> dict[str, Any]:
    crash = action(
        "kill-the-api-under-a-restart-policy",
        "actions.services",
        "crash_and_restart_service",
        after=var("fault_settle_s"),
        service="api",
        fault_s=var("fault_s"),
        answer_deadline_s=var("restart_bound_s"),
    )
    return failure(
        title="API killed under load and restarted by its supervisor: nothing acknowledged lost",
        description=(
            "Kills the API process (SIGKILL) while Locust plays customers, dashboard viewers "
            "and WebSocket watchers; supervisor starts it again at once, as a restart policy "
            "would (the lab's API is never restarted on its own otherwise). Operators expect "
            "the API to answer again (/readyz 200 and an order acknowledged) within "
            "restart_bound_s of the kill, the load to fail only while it is down (connection "
            "errors, or 503 while it starts; no 500; a failure ratio within the share of the "
            "time it was down plus down_share_margin), every WebSocket watcher to reconnect "
            "within reconnect_bound_s, and every order acknowledged before the kill to be in "
            "the database."
        ),
        tags=["failure-injection", "api"],
        fault=[crash],
        during=[
            probe(
                "the-api-answers-again-in-time",
                "probes.services",
                "answers_again_within",
                max_s=var("restart_bound_s"),
            ),
            probe(
                "only-refused-or-503-while-the-api-was-down",
                "probes.services",
                "failures_within_down_share",
                margin=var("down_share_margin"),
                allowed=[0, *ONLY_200_OR_503],
            ),
            probe(
                "every-watcher-reconnects",
                "probes.websocket",
                "watchers_reconnect_within",
                watchers="connected",
                within_s=var("reconnect_bound_s"),
            ),
        ],
        revert=service_action("start", "api"),
        after_recovery=[probe("no-acknowledged-order-lost", "probes.orders", "no_lost_orders")],
        configuration={
            "restart_bound_s": 10,
            "reconnect_bound_s": 30,
            "down_share_margin": 0.1,
            "user_classes": CUSTOMERS_AND_VIEWERS + ",DashboardWatcher=1",
        },
    )


EXPERIMENTS = {
    "kill-api-pod-under-load": kill_api_pod,
    "kill-api": kill_api,
    "kill-redis": kill_redis,
    "kill-postgres": kill_postgres,
    "kill-aggregator": kill_aggregator_process,
    "kill-aggregator-mid-pass": kill_aggregator_mid_pass,
    "delay-redis": lambda: delay_dependency("redis"),
    "delay-postgres": lambda: delay_dependency("postgresql"),
}
# The café flaws each experiment must catch, and the method probe that must fail on each.
CATCHES = {
    "kill-api-pod-under-load": {},
    "kill-api": {
        "orders-written-behind": "no-acknowledged-order-lost",
        "slow-start": "the-api-answers-again-in-time",
        "500-while-starting": "only-refused-or-503-while-the-api-was-down",
    },
    "kill-redis": {
        "readiness-never-rechecks": "readyz-names-redis",
        "500-on-dependency-failure": "dashboard-answers-503-with-a-reason",
        "websocket-stops-after-redis-blip": "dashboard-and-pushes-fresh-again",
    },
    "kill-postgres": {
        "readiness-never-rechecks": "readyz-names-the-database",
        "500-on-dependency-failure": "orders-fail-fast-with-503",
        "no-reconnect": "time-to-recover",
    },
    "kill-aggregator": {"short-cache-ttl": "dashboard-serves-the-stale-cache"},
    "kill-aggregator-mid-pass": {"cache-written-key-by-key": "the-cache-is-one-pass-whole"},
    "delay-redis": {"no-dependency-timeouts": "stalled-dependency-answers-stay-bounded"},
    "delay-postgres": {"no-dependency-timeouts": "stalled-dependency-answers-stay-bounded"},
}
# Experiments that run on Kubernetes only, and why none of the café's flaws is in their row.
KUBERNETES_ONLY = {
    "kill-api-pod-under-load": (
        "what it looks for (failures beyond the killed pod's share, traffic before readiness, "
        "a slow replacement) lives in the Deployment, its probes and the Service, not in the "
        "café's code: no CAFE_FLAWS switch reproduces it, and the lab that runs the matrix has "
        "one API process, no pods. Shown on a cluster by removing the readinessProbe or the "
        "second replica (deploy/kubernetes/README.md)."
    ),
}
