"""Load tests from the operators' load-test plan: a load shape and what it measures.

Their figures are full defaults; ``experiments/vars/quick.yaml`` shrinks the durations.
"""

from __future__ import annotations

from typing import Any

from .blocks import (
    CUSTOMERS,
    ORDERS,
    STOP_LOAD,
    action,
    experiment,
    healthy_load,
    probe,
    ref,
    service_action,
    start_load,
    var,
)

SPIKE_PHASES = ["spike_base_s", "spike_ramp_s", "spike_hold_s", "spike_after_s"]
HPA_PHASES = ["hpa_base_s", "hpa_ramp_s", "hpa_hold_s", "hpa_after_s"]
# hpa-spike: phases long enough for an HPA (metrics every 15-60 s, a sync every 15 s, pods
# to start), and the bounds of its scale-out and scale-in.
HPA_CONFIG = {
    "spike_base_users": 50,
    "spike_peak_users": 500,
    "hpa_base_s": 60,
    "hpa_ramp_s": 30,
    "hpa_hold_s": 240,
    "hpa_after_s": 240,
    "scale_out_bound_s": 150,
    "scale_in_bound_s": 180,
    "p99_window_s": 30,
    "user_classes": CUSTOMERS,
    "load_limit_s": 900,
}


def load_test(
    title: str,
    description: str,
    tags: list[str],
    configuration: dict[str, Any],
    method: list[dict[str, Any]],
    rollbacks: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A load test; the load is stopped at the end and by the rollbacks."""
    undo = [*(rollbacks or []), ref(STOP_LOAD)]
    return experiment(title, description, tags, configuration, [*method, STOP_LOAD], undo, **kwargs)


SEARCH_SETTINGS = {  # search_capacity's argument: its configuration key
    "start_rate": "search_start_rate",
    "precision": "search_precision",
    "step_s": "search_step_s",
    "settle_s": "search_settle_s",
    "min_requests": "search_min_requests",
    "min_rate": "search_min_rate",
    "max_rate": "search_max_rate",
    "user_rate_s": "search_user_rate_s",
    "spawn_rate": "search_spawn_rate",
    "p99_threshold_ms": "p99_threshold_ms",
    "max_failure_ratio": "max_failure_ratio",
    "served_margin": "served_margin",
    "max_workers": "search_max_workers",
    "cpu_bound": "generator_cpu_bound",
    "max_loop_lag_ms": "generator_max_loop_lag_ms",
    "user_classes": "user_classes",
    "load_limit_s": "load_limit_s",
    "capacity_file": "capacity_file",
}


def capacity_search() -> dict[str, Any]:
    return load_test(
        title="Capacity search: the most orders per second before the cafe degrades",
        description=(
            "Offers orders at a rate (open model: customers paced from a phase of their own), "
            "doubling from search_start_rate until a step degrades, then bisecting between the "
            "last good and the first bad step until the interval is within search_precision. "
            "Each step discards its warm-up, counts at least search_min_requests orders and is "
            "judged by the knee's criteria: P99 over the threshold (requests still open count "
            "at their age), failures over the bound, served short of offered by more than "
            "served_margin; a bad step is measured again once. The load generator is watched "
            "too (CPU of the Locust processes, event-loop lag, missed paces): when it is the "
            "bottleneck the search adds local workers, and without more it stops, 'limited by "
            "the load generator', never calling that the cafe's capacity. The capacity, its "
            "interval and every step's figures are saved to <state_dir>/capacity.json, where "
            "sustained-80 and spike read them. Operators expect the cafe to serve at least the "
            "plan's peak (plan_peak_customers of the plan's mix) without degrading."
        ),
        tags=["load", "capacity"],
        configuration={
            "search_start_rate": 25,
            "search_precision": 0.05,
            "search_step_s": 40,
            "search_settle_s": 10,
            "search_min_requests": 1000,
            "search_min_rate": 2,
            "search_max_rate": 5000,
            "search_user_rate_s": 2,
            "search_spawn_rate": 200,
            "served_margin": 0.05,
            "search_max_workers": 0,
            "generator_cpu_bound": 0.9,
            "generator_max_loop_lag_ms": 50,
            "plan_peak_customers": 500,
            "user_classes": CUSTOMERS,
            "load_limit_s": 3600,
            "capacity_file": "",
        },
        method=[
            action(
                "search-capacity",
                "actions.capacity",
                "search_capacity",
                **{argument: var(key) for argument, key in SEARCH_SETTINGS.items()},
            ),
            probe(
                "capacity-covers-the-plans-peak",
                "probes.capacity",
                "capacity_covers_the_plan",
                peak_customers=var("plan_peak_customers"),
                user_classes=var("user_classes"),
            ),
        ],
    )


def baseline_ramp() -> dict[str, Any]:
    return load_test(
        title="Baseline ramp: the most orders per second before latency degrades",
        description=(
            "Ramps the customers 10 -> 100 -> 500 over 10 minutes (stair shape) and measures "
            "each step: offered and served orders/s, P50/P95/P99 and failure ratio of the "
            "orders. The knee is the first step whose P99 exceeds the threshold, whose failure "
            "ratio exceeds the bound, or whose served rate grows by less than min_growth of the "
            "extra offered load. The per-step table and the knee go to the run directory, with "
            "where the last step stood against the capacity capacity-search saved (the plan's "
            "500 customers may sit far below it). Operators expect the cafe to serve the first "
            "step without degrading."
        ),
        tags=["load", "capacity"],
        configuration={
            "ramp_steps": [10, 100, 500],
            "ramp_step_s": 200,
            "ramp_settle_s": 40,
            "ramp_spawn_rate": 20,
            "user_classes": CUSTOMERS,
            "min_growth": 0.5,
            "capacity_file": "",
        },
        method=[
            action(
                "find-capacity",
                "actions.capacity",
                "find_capacity",
                steps=var("ramp_steps"),
                step_s=var("ramp_step_s"),
                settle_s=var("ramp_settle_s"),
                spawn_rate=var("ramp_spawn_rate"),
                user_classes=var("user_classes"),
                p99_threshold_ms=var("p99_threshold_ms"),
                max_failure_ratio=var("max_failure_ratio"),
                min_growth=var("min_growth"),
                capacity_file=var("capacity_file"),
            ),
            probe("capacity-before-latency-degrades", "probes.capacity", "capacity_was_found"),
        ],
    )


def sustained_80() -> dict[str, Any]:
    saved = probe(
        "a-capacity-figure-is-saved",
        "probes.capacity",
        "saved_capacity",
        capacity_file=var("capacity_file"),
    )
    saved["tolerance"] = probe(
        "positive-capacity", "probes.checks", "within", at_least={"orders_per_s": 0.01}
    )
    return load_test(
        title="Sustained load at 80% of capacity: P95/P99 stay stable",
        description=(
            "Offers 80% of the capacity capacity-search saved (orders/s, open model: constant "
            "throughput per user, paced as the search's users) for 5 minutes and cuts the run "
            "into windows (a multiple of the aggregator's 10 s period). Operators "
            "expect P95/P99 to be stable: the per-window P99 varies by no more than max_p99_cv "
            "(coefficient of variation) and stays under the threshold, with failures within "
            "bound. Refuses to start without a saved capacity (run capacity-search first) or "
            "with one older than the target's last deployment (run capacity-search again)."
        ),
        tags=["load", "stability"],
        configuration={
            "capacity_fraction": 0.8,
            "sustained_s": 300,
            "warmup_s": 30,
            "stability_window_s": 30,
            "max_p99_cv": 0.25,
            "user_rate_s": 2,
            "sustained_spawn_rate": 100,
            "user_classes": CUSTOMERS,
            "capacity_file": "",
        },
        hypothesis_first=[saved],
        method=[
            action(
                "start-sustained-load",
                "actions.capacity",
                "start_sustained_load",
                after=var("warmup_s"),
                fraction=var("capacity_fraction"),
                duration_s=var("sustained_s"),
                warmup_s=var("warmup_s"),
                spawn_rate=var("sustained_spawn_rate"),
                user_rate_s=var("user_rate_s"),
                user_classes=var("user_classes"),
                capacity_file=var("capacity_file"),
            ),
            probe(
                "per-window-p99-is-stable",
                "probes.load",
                "p99_is_stable",
                before=var("sustained_s"),
                window_s=var("stability_window_s"),
                over_s=var("sustained_s"),
                max_cv=var("max_p99_cv"),
                p99_ms=var("p99_threshold_ms"),
            ),
            healthy_load("orders-p99-and-failures-over-the-run", "sustained_s", ORDERS),
        ],
    )


SPIKE_TIMES = {key.removeprefix("spike_"): var(key) for key in SPIKE_PHASES}
UNTIL_THE_DROP = [var(key) for key in SPIKE_PHASES[:3]]
SPIKE_CONFIG = {
    "spike_base_users": 50,
    "spike_peak_users": 500,
    "spike_base_s": 60,
    "spike_ramp_s": 30,
    "spike_hold_s": 120,
    "spike_after_s": 120,
    "recovery_bound_s": 30,
    "p99_window_s": 10,
    "spike_capacity_share": 1.0,
    "capacity_file": "",
    "user_classes": CUSTOMERS,
    "load_limit_s": 900,
}


def spike() -> dict[str, Any]:
    return load_test(
        title="Morning-rush spike: the system recovers after a rush to its capacity",
        description=(
            "Holds a base of customers, spikes in 30 s to the customers that offer "
            "spike_capacity_share of the capacity capacity-search saved (the base keeps the "
            "plan's 50:500 ratio), holds 2 min, drops back to the base; without a saved "
            "capacity, or with spike_capacity_share 0, the plan's 50 -> 500 customers. Refuses "
            "a capacity older than the target's last deployment (run capacity-search again). "
            "Operators expect the system to recover: P99 back under the threshold within "
            "recovery_bound_s after the drop. Measured: queueing (offered vs served orders/s in "
            "each phase), database pool exhaustion (the reference cafe's db_pool_waiting gauge, "
            "optional) and 503 answers."
        ),
        tags=["load", "spike"],
        configuration=SPIKE_CONFIG,
        method=[
            action(
                "start-spike",
                "actions.capacity",
                "start_spike",
                base_users=var("spike_base_users"),
                peak_users=var("spike_peak_users"),
                **SPIKE_TIMES,
                capacity_share=var("spike_capacity_share"),
                capacity_file=var("capacity_file"),
                user_classes=var("user_classes"),
                duration_s=var("load_limit_s"),
            ),
            probe(
                "db-pool-waiting-until-the-drop",
                "probes.capacity",
                "pool_waiting_during",
                duration_s=UNTIL_THE_DROP,
            ),
            probe(
                "p99-back-under-threshold-after-the-drop",
                "probes.load",
                "p99_recovers_after_drop",
                drop_after_s=UNTIL_THE_DROP,
                within_s=var("recovery_bound_s"),
                window_s=var("p99_window_s"),
                p99_ms=var("p99_threshold_ms"),
            ),
            probe(
                "offered-vs-served-by-phase",
                "probes.capacity",
                "spike_phases",
                user_classes=var("user_classes"),
                **SPIKE_TIMES,
            ),
        ],
    )


def hpa_spike() -> dict[str, Any]:
    phases = {key.removeprefix("hpa_"): var(key) for key in HPA_PHASES}
    users = {"base_users": var("spike_base_users"), "peak_users": var("spike_peak_users")}
    probes = "probes.autoscaling"
    return load_test(
        title="Autoscaling under a spike: the API scales out in time, without errors, and back",
        description=(
            "Kubernetes only. The spike shape against the API behind its Service (50 -> 500 "
            "customers, held long enough for the HorizontalPodAutoscaler), measuring from the "
            "load step: when the HPA's desired replicas rose, when the new pods were ready, the "
            "answers and P99 meanwhile. Operators expect the scale-out within "
            "scale_out_bound_s, no 5xx (nor unanswered requests) while it happens, P99 back "
            "under the threshold once the new pods are ready, and, after the load drops, a "
            "scale-in within scale_in_bound_s without a failed request."
        ),
        tags=["load", "spike", "kubernetes", "autoscaling"],
        configuration=HPA_CONFIG,
        method=[
            action(
                "start-spike",
                "actions.load",
                "start_load",
                users=var("spike_peak_users"),
                duration_s=var("load_limit_s"),
                user_classes=var("user_classes"),
                shape="spike",
                shape_params={**users, **phases},
            ),
            probe(
                "scale-out-within-bound",
                probes,
                "scales_out_within",
                step_after_s=var("hpa_base_s"),
                within_s=var("scale_out_bound_s"),
            ),
            probe("no-5xx-during-the-scale-out", probes, "answers_during_scale_out", allowed=[200]),
            probe(
                "p99-under-threshold-once-new-pods-are-ready",
                probes,
                "p99_after_scale_out",
                window_s=var("p99_window_s"),
                p99_ms=var("p99_threshold_ms"),
            ),
            probe(
                "scale-in-after-the-drop-without-failed-requests",
                probes,
                "scales_in_after_drop",
                drop_after_s=[var(key) for key in HPA_PHASES[:3]],
                within_s=var("scale_in_bound_s"),
            ),
        ],
    )


def websocket_limits() -> dict[str, Any]:
    return load_test(
        title="WebSocket limits: 100 -> 500 -> 1000 dashboard watchers, then an API restart",
        description=(
            "Opens 100, then 500, then 1000 concurrent WebSockets on /ws/dashboard "
            "(DashboardWatcher users, stair shape). At each step: the API's resident memory, "
            "connection attempts and failures, broadcast lag (receive time minus "
            "server_timestamp) P50/P99. Then restarts the API. Operators expect connections to "
            "succeed (failure ratio within bound), pushes to arrive with lag P99 within "
            "max_ws_lag_p99_ms, and every watcher to reconnect within reconnect_bound_s of the "
            "API's restart."
        ),
        tags=["load", "websocket"],
        configuration={
            "ws_steps": [100, 500, 1000],
            "ws_step_s": 60,
            "ws_settle_s": 20,
            "ws_spawn_rate": 50,
            "max_ws_lag_p99_ms": 1000,
            "reconnect_bound_s": 30,
            "dashboard_interval_s": 10,
        },
        method=[
            action(
                "open-websockets-step-by-step",
                "actions.capacity",
                "start_watchers",
                steps=var("ws_steps"),
                step_s=var("ws_step_s"),
                spawn_rate=var("ws_spawn_rate"),
                dashboard_interval_s=var("dashboard_interval_s"),
            ),
            probe(
                "each-step-connects-and-pushes-in-time",
                "probes.websocket",
                "websockets_hold_each_step",
                steps=var("ws_steps"),
                step_s=var("ws_step_s"),
                settle_s=var("ws_settle_s"),
                max_failure_ratio=var("max_failure_ratio"),
                max_lag_p99_ms=var("max_ws_lag_p99_ms"),
            ),
            service_action("restart", "api", "restart-the-api"),
            probe(
                "every-watcher-reconnects",
                "probes.websocket",
                "watchers_reconnect_within",
                watchers=var("ws_steps"),
                within_s=var("reconnect_bound_s"),
            ),
        ],
        rollbacks=[service_action("start", "api")],
    )


def mixed_workload() -> dict[str, Any]:
    return load_test(
        title="Mixed workload: the same load under several customer mixes, side by side",
        description=(
            "Plays the same number of customers for the same time under each weighting of the "
            "customer profiles (the plan's 10 CoffeeConsumer / 5 RushHourCustomer / 3 "
            "DowntownRegular, then rush-heavy and downtown-heavy), one after the other, and "
            "compares offered and served orders/s, P50/P95/P99 and failures side by side. "
            "Operators expect every mix to keep the orders' P99 and failure ratio within bounds."
        ),
        tags=["load", "mix"],
        configuration={
            "mixes": [
                CUSTOMERS,
                "CoffeeConsumer=3,RushHourCustomer=10,DowntownRegular=3",
                "CoffeeConsumer=3,RushHourCustomer=2,DowntownRegular=10",
            ],
            "users": 100,
            "spawn_rate": 10,
            "mix_run_s": 120,
            "mix_settle_s": 20,
        },
        method=[
            action(
                "run-each-mix",
                "actions.capacity",
                "run_mixes",
                mixes=var("mixes"),
                users=var("users"),
                spawn_rate=var("spawn_rate"),
                run_s=var("mix_run_s"),
                settle_s=var("mix_settle_s"),
            ),
            probe(
                "every-mix-within-limits-side-by-side",
                "probes.capacity",
                "mixes_within_limits",
                p99_ms=var("p99_threshold_ms"),
                max_failure_ratio=var("max_failure_ratio"),
            ),
        ],
    )


def soak() -> dict[str, Any]:
    limits = [
        "max_rss_slope_mb_per_h",
        "rss_noise_mb",
        "max_connection_growth",
        "max_series_growth",
    ]
    shape = {"users": var("users"), "duration_s": var("soak_s"), "spawn_rate": var("spawn_rate")}
    return load_test(
        title="Soak: 100 customers for hours without leaks",
        description=(
            "Runs 100 customers for 2 h (soak shape; up to 4 h with --var soak_s:int=14400) and "
            "samples every soak_sample_s: RSS of the API and the aggregator, PostgreSQL client "
            "connections, the orders table's bytes, Prometheus head series and "
            "orders_created_total series, the load's figures. Samples go to "
            "<run_dir>/soak/samples.jsonl and a checkpoint every soak_checkpoint_s, so an "
            "interrupted soak keeps its evidence (python -m gameday.soak report <run_dir>). "
            "Operators expect no memory leak (fitted RSS growth within rss_noise_mb + "
            "max_rss_slope_mb_per_h per hour), no connection leak, no metric cardinality "
            "explosion; database growth is measured."
        ),
        tags=["load", "soak"],
        configuration={
            "users": 100,
            "spawn_rate": 10,
            "soak_s": 7200,
            "warmup_s": 60,
            "soak_sample_s": 30,
            "soak_checkpoint_s": 300,
            "max_rss_slope_mb_per_h": 16,
            "rss_noise_mb": 16,
            "max_connection_growth": 5,
            "max_series_growth": 1000,
            "user_classes": CUSTOMERS,
        },
        method=[
            start_load(
                "start-soak-load",
                duration="soak_s",
                shape="soak",
                shape_params=shape,
            ),
            probe(
                "no-leak-over-the-soak",
                "probes.soak",
                "no_leaks_during_soak",
                duration_s=var("soak_s"),
                warmup_s=var("warmup_s"),
                sample_s=var("soak_sample_s"),
                checkpoint_s=var("soak_checkpoint_s"),
                **{key: var(key) for key in limits},
            ),
        ],
    )


EXPERIMENTS = {
    "capacity-search": capacity_search,
    "baseline-ramp": baseline_ramp,
    "sustained-80": sustained_80,
    "spike": spike,
    "hpa-spike": hpa_spike,
    "websocket-limits": websocket_limits,
    "mixed-workload": mixed_workload,
    "soak": soak,
}
# The café flaws each experiment must catch, and the method probe that must fail on each.
CATCHES = {
    "capacity-search": {"blocking-handler": "capacity-covers-the-plans-peak"},
    "baseline-ramp": {"blocking-handler": "capacity-before-latency-degrades"},
    "sustained-80": {"blocking-handler": "per-window-p99-is-stable"},
    "spike": {"blocking-handler": "p99-back-under-threshold-after-the-drop"},
    "hpa-spike": {},
    "websocket-limits": {"serial-broadcast": "each-step-connects-and-pushes-in-time"},
    "mixed-workload": {"blocking-handler": "every-mix-within-limits-side-by-side"},
    "soak": {"memory-per-request": "no-leak-over-the-soak"},
}
# Experiments that run on Kubernetes only, and why none of the café's flaws is in their row.
KUBERNETES_ONLY = {
    "hpa-spike": (
        "the lab that runs the matrix has no autoscaler; on a cluster blocking-handler is its "
        "likely catch (a loop blocked in time.sleep burns no CPU, so a CPU-targeted HPA never "
        "scales out and scale-out-within-bound fails), unverified without a cluster."
    ),
}
