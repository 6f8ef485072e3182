"""Expectations: what the operators expect of the system during and after a fault.

Each probe returns the figures it saw when the expectation holds and raises
``ActivityFailed`` saying what was expected and what was seen when it does
not. In a method, the safety control (``gameday.controls``) turns a failed
expectation into a deviation, so a system that misbehaves never passes.
All of them rely only on the target contract, except
``api_not_restarted_during_load`` (it asks the lab's process manager).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import capacity, livestats, locustrun, services, soak
from gameday.errors import GamedayError
from gameday.target import TargetError, load_target
from probes.http import dashboard, dashboard_staleness, endpoint_latency, place_order, readyz
from probes.load import load_stats
from probes.postgres import connections, table_size
from probes.process import process_usage
from probes.prometheus import prometheus_memory, series_count

__all__ = [
    "api_not_restarted_during_load",
    "capacity_was_found",
    "dashboard_becomes_fresh",
    "dashboard_fails_gracefully",
    "dashboard_is_fresh",
    "dashboard_is_served",
    "dashboard_is_stale_but_served",
    "load_is_healthy",
    "load_p99_at_most",
    "mixes_within_limits",
    "no_leaks_during_soak",
    "only_expected_answers",
    "order_fails_fast",
    "order_is_accepted",
    "p99_is_stable",
    "p99_recovers_after_drop",
    "readyz_answers_within",
    "readyz_names_failure",
    "sampled_latency",
    "watchers_reconnect_within",
    "websockets_hold_each_step",
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


def capacity_was_found(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The step test of this run found a capacity (orders/s) before latency degraded."""
    path = load_target(configuration).run_dir / capacity.FILE_NAME
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ActivityFailed(f"no step test result in {path} ({exc}): run find-capacity") from None
    if not record.get("orders_per_s"):
        raise ActivityFailed(
            f"expected the café to serve the first step ({record['steps'][0]['users']} users) "
            f"without degrading, it did not: {record.get('knee_reason')}\n"
            + capacity.format_table(record)
        )
    return record


def p99_is_stable(
    window_s: int,
    over_s: int,
    max_cv: float,
    p99_ms: float,
    endpoint: str | None = "/api/v1/order",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``over_s`` of load cut into ``window_s`` windows, the per-window P99
    varies by at most ``max_cv`` (coefficient of variation) and stays at most ``p99_ms``."""
    if not isinstance(window_s, int) or not isinstance(over_s, int) or over_s < 2 * window_s:
        raise ActivityFailed(
            f"need at least two windows: over_s ({over_s!r}) >= 2 x window_s ({window_s!r})"
        )
    try:
        live_file = locustrun.current(load_target(configuration))["live_file"]
        records = livestats.read_seconds(live_file, last=over_s + 2)
    except (GamedayError, TargetError, livestats.LiveStatsError) as exc:
        raise ActivityFailed(f"no load statistics: {exc}") from None
    newest = max((r["t"] for r in records), default=0)
    windows = []
    for index in range(over_s // window_s):
        end = newest - index * window_s
        chosen = [r for r in records if end - window_s < r["t"] <= end]
        merged = livestats.merge(chosen, endpoint)
        windows.insert(
            0,
            {
                "to_t": end,
                "count": merged["count"],
                "failures": merged["failures"],
                "p95_ms": livestats.percentile(merged["hist"], 0.95),
                "p99_ms": livestats.percentile(merged["hist"], 0.99),
            },
        )
    p99s = [w["p99_ms"] for w in windows if w["p99_ms"] is not None]
    if len(p99s) < len(windows):
        raise ActivityFailed(f"expected requests in every {window_s} s window, saw {windows}")
    facts = {
        "windows": windows,
        "p99_cv": _cv(p99s),
        "p95_cv": _cv([w["p95_ms"] for w in windows]),
        "worst_p99_ms": max(p99s),
        "max_cv": max_cv,
    }
    if facts["p99_cv"] > max_cv or facts["worst_p99_ms"] > p99_ms:
        raise ActivityFailed(
            f"expected the per-{window_s}-s P99 to vary by at most {max_cv} (coefficient of "
            f"variation) and stay <= {p99_ms} ms, got CV {facts['p99_cv']} and P99s {p99s}"
        )
    return facts


def p99_recovers_after_drop(
    drop_after_s: float | list[float],
    within_s: float,
    window_s: int,
    p99_ms: float,
    endpoint: str | None = "/api/v1/order",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The load drops ``drop_after_s`` into the run; within ``within_s`` after it, a
    ``window_s`` window begins whose P99 is at most ``p99_ms`` again.

    Returns ``recovery_s``: from the drop to the start of that window. ``drop_after_s``
    may list the phases before the drop, to add up.
    """
    try:
        drop_after_s = capacity.total_seconds(drop_after_s, "drop_after_s")
        run = locustrun.current(load_target(configuration))
        began = capacity.first_second(
            run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
        )
    except (GamedayError, TargetError, livestats.LiveStatsError) as exc:
        raise ActivityFailed(f"no load statistics: {exc}") from None
    drop_t = began + int(drop_after_s)
    last_start = drop_t + int(within_s)
    tried: list[tuple[int, float | None]] = []
    while True:
        records = livestats.read_seconds(run["live_file"])
        newest = max((r["t"] for r in records), default=0)
        tried = []
        for start in range(drop_t, min(last_start, newest - window_s + 1) + 1):
            chosen = [r for r in records if start <= r["t"] < start + window_s]
            p99 = livestats.percentile(livestats.merge(chosen, endpoint)["hist"], 0.99)
            tried.append((start - drop_t, p99))
            if p99 is not None and p99 <= p99_ms:
                return {
                    "recovery_s": start - drop_t,
                    "p99_ms": p99,
                    "window_s": window_s,
                    "within_s": within_s,
                    "drop_t": drop_t,
                }
        if newest - window_s + 1 >= last_start:
            break
        time.sleep(1)
    worst = [p for _, p in tried if p is not None]
    raise ActivityFailed(
        f"expected the P99 to be back under {p99_ms} ms within {within_s} s after the load "
        f"dropped, it was not (window P99s from the drop: {worst[:5]} ... {worst[-3:]} ms)"
    )


def mixes_within_limits(
    p99_ms: float,
    max_failure_ratio: float,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Every weight mix of this run (``actions.capacity.run_mixes``) kept its orders' P99 and
    failure ratio within bounds; returns the mixes side by side."""
    path = load_target(configuration).run_dir / "mixes.json"
    try:
        compared = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ActivityFailed(
            f"no mixed-workload results in {path} ({exc}): run run_mixes"
        ) from None
    side_by_side = {
        row["mix"]: {
            k: row[k]
            for k in (
                "served_per_s",
                "offered_per_s",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "failure_ratio",
                "requests",
            )
        }
        for row in compared["mixes"]
    }
    bad = {
        mix: figures
        for mix, figures in side_by_side.items()
        if not figures["requests"]
        or figures["p99_ms"] > p99_ms
        or figures["failure_ratio"] > max_failure_ratio
    }
    if bad:
        raise ActivityFailed(
            f"expected every mix to keep P99 <= {p99_ms} ms and failure ratio <= "
            f"{max_failure_ratio}, these did not: {bad}"
        )
    return side_by_side


def _cv(values: list[float]) -> float:
    mean = sum(values) / len(values)
    if not mean:
        return 0.0
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return round(variance**0.5 / mean, 4)


def no_leaks_during_soak(
    duration_s: float,
    warmup_s: float = 0,
    sample_s: float = 30,
    checkpoint_s: float = 300,
    max_rss_slope_mb_per_h: float = 16,
    rss_noise_mb: float = 16,
    max_connection_growth: float = 5,
    max_series_growth: float = 1000,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Watch the soak (its ``duration_s`` less the ``warmup_s`` already spent) and expect no
    leak: RSS of the API and the aggregator, PostgreSQL connections, Prometheus series.

    Samples and checkpoints go to ``<run_dir>/soak/`` (``gameday.soak``).
    """
    limits = {
        "max_rss_slope_mb_per_h": max_rss_slope_mb_per_h,
        "rss_noise_mb": rss_noise_mb,
        "max_connection_growth": max_connection_growth,
        "max_series_growth": max_series_growth,
    }
    run_dir = load_target(configuration).run_dir
    try:
        judged = soak.watch(
            lambda: _soak_sample(sample_s, configuration, secrets),
            run_dir,
            duration_s - warmup_s,
            sample_s,
            checkpoint_s,
            limits,
        )
    except GamedayError as exc:
        raise ActivityFailed(f"cannot watch the soak: {exc}") from None
    if judged["breaches"]:
        raise ActivityFailed(
            "expected no leak over the soak, saw: "
            + "; ".join(judged["breaches"])
            + f" (report: {run_dir}/soak/report.md)"
        )
    return judged


def _soak_sample(window_s: float, configuration: Configuration, secrets: Secrets) -> dict[str, Any]:
    """One soak sample; a figure that cannot be read is left out and its error noted."""
    readers = {
        "api_rss_bytes": lambda: process_usage("api", configuration, secrets)["rss_bytes"],
        "aggregator_rss_bytes": lambda: process_usage("aggregator", configuration, secrets)[
            "rss_bytes"
        ],
        "postgres_connections": lambda: connections(configuration=configuration, secrets=secrets)[
            "total"
        ],
        "orders_total_bytes": lambda: table_size(configuration=configuration, secrets=secrets)[
            "total_bytes"
        ],
        "prometheus_head_series": lambda: prometheus_memory(configuration=configuration)[
            "head_series"
        ],
        "orders_created_series": lambda: series_count(configuration=configuration)["series"],
        "load": lambda: {
            k: v
            for k, v in load_stats(max(1, int(window_s)), configuration=configuration).items()
            if k in ("count", "rps", "failures", "p99_ms")
        },
    }
    sample: dict[str, Any] = {}
    errors = {}
    for key, read in readers.items():
        try:
            sample[key] = read()
        except ActivityFailed as exc:
            errors[key] = str(exc)[:200]
    if errors:
        sample["errors"] = errors
    return sample


WS_CONNECT = "WS connect"
WS_RECONNECT = "WS reconnect"
WS_PUSH = "/ws/dashboard push"


def websockets_hold_each_step(
    steps: list[int],
    step_s: int,
    settle_s: int,
    max_failure_ratio: float,
    max_lag_p99_ms: float,
    service: str = "api",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Follow the WebSocket stairs (``actions.capacity.start_watchers``): at the end of each
    step the API's RSS, and over the step (after ``settle_s``) the connection attempts and
    failures and the broadcast lag P50/P99. Expects connection failures within
    ``max_failure_ratio`` and lag P99 within ``max_lag_p99_ms`` at every step."""
    try:
        target = load_target(configuration)
        run = locustrun.current(target)
        began = capacity.first_second(
            run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
        )
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(f"no WebSocket statistics: {exc}") from None
    table = []
    for index, sockets in enumerate(steps):
        end = began + (index + 1) * step_s
        time.sleep(max(0.0, end - 1 - time.time()))
        rss = process_usage(service, configuration, secrets)["rss_bytes"]
        time.sleep(max(0.0, end + 1 - time.time()))  # the step's last second is written
        records = [
            r
            for r in livestats.read_seconds(run["live_file"])
            if began + index * step_s <= r["t"] < end
        ]
        connects = livestats.merge(records, WS_CONNECT)
        pushes = livestats.merge([r for r in records if r["t"] >= end - step_s + settle_s], WS_PUSH)
        table.append(
            {
                "websockets": sockets,
                f"{service}_rss_mib": round(rss / 2**20, 1),
                "connects": connects["count"],
                "connect_failures": connects["failures"],
                "failure_ratio": round(connects["failures"] / connects["count"], 4)
                if connects["count"]
                else 0.0,
                "pushes": pushes["count"],
                "lag_p50_ms": livestats.percentile(pushes["hist"], 0.50),
                "lag_p99_ms": livestats.percentile(pushes["hist"], 0.99),
            }
        )
        logger.info(f"WebSockets step: {table[-1]}")
    bad = [
        row
        for row in table
        if not row["pushes"]
        or row["failure_ratio"] > max_failure_ratio
        or row["lag_p99_ms"] > max_lag_p99_ms
    ]
    if bad:
        raise ActivityFailed(
            f"expected every step to connect with failure ratio <= {max_failure_ratio} and "
            f"broadcast lag P99 <= {max_lag_p99_ms} ms, these did not: {bad} (all: {table})"
        )
    return {"steps": table}


def watchers_reconnect_within(
    watchers: int | list[int],
    within_s: float,
    service: str = "api",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """After ``service`` (re)started, ``watchers`` WebSockets reconnect within ``within_s``
    of its start (the process manager's uptime gives the start). A list of watchers (the
    steps of ``start_watchers``) means its largest."""
    watchers = max(watchers) if isinstance(watchers, list) else watchers
    try:
        target = load_target(configuration)
        run = locustrun.current(target)
        status = services.status(service, target)
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(f"cannot follow the reconnections: {exc}") from None
    if status.get("state") != "RUNNING":
        raise ActivityFailed(f"expected {service} to run again, it is {status.get('state')}")
    started_t = time.time() - (status.get("uptime") or 0)
    reconnected, seen = 0, 0.0
    while True:
        records = [r for r in livestats.read_seconds(run["live_file"]) if r["t"] >= int(started_t)]
        merged = livestats.merge(records, WS_RECONNECT)
        reconnected = merged["count"] - merged["failures"]
        seen = time.time() - started_t
        if reconnected >= watchers:
            newest = max(r["t"] for r in records if WS_RECONNECT in r.get("by_name", {}))
            if newest + 1 - started_t > within_s:
                break
            return {
                "watchers": watchers,
                "reconnected": reconnected,
                "all_back_s": round(newest + 1 - started_t, 1),
                "reconnect_p99_ms": livestats.percentile(merged["hist"], 0.99),
                "within_s": within_s,
            }
        if seen > within_s + 2:  # the live file is written a second late
            break
        time.sleep(1)
    raise ActivityFailed(
        f"expected all {watchers} WebSocket watchers to reconnect within {within_s} s of "
        f"{service} restarting, {reconnected} did in {seen:.0f} s"
    )
