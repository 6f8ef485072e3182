"""Chaos Toolkit probes of the load experiments: the saved capacity, the spike's phases,
the café's pool gauge, and the expectations on the capacity search, the step test and the
workload mixes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime
from typing import Any

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import capacity, capacityfile, livestats, loadplan, locustrun
from gameday.httpcheck import require_loopback

__all__ = [
    "capacity_covers_the_plan",
    "capacity_was_found",
    "mixes_within_limits",
    "pool_waiting_during",
    "saved_capacity",
    "spike_phases",
]
logger = logging.getLogger("chaostoolkit")

MAX_WINDOW_S = 3600


def saved_capacity(
    capacity_file: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The capacity the last capacity search saved, with its evidence; fails when there is
    none, or when it is older than the target's last deployment."""
    with engine_call("read the saved capacity", configuration) as target:
        return capacityfile.load_capacity(capacityfile.capacity_path(target, capacity_file), target)


def capacity_covers_the_plan(
    peak_customers: int = 500,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The capacity search of this run found the target serving at least what the plan's
    peak offers (``peak_customers`` of ``user_classes``: 500 of the plan's mix offer about
    220 orders/s) without degrading. A search limited by the load generator counts only
    what the target served before that."""
    with engine_call("read the capacity search's result", configuration) as target:
        path = target.run_dir / capacityfile.FILE_NAME
        floor = peak_customers * capacity.offered_per_user(
            loadplan.parse_user_classes(user_classes)
        )
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ActivityFailed(f"no capacity search result in {path} ({exc})") from None
    served = max(
        (row["served_per_s"] for row in record["steps"] if row["verdict"] == "good"), default=0
    )
    if served < floor:
        raise ActivityFailed(
            unmet(
                f"a capacity of at least {floor:.1f} orders/s (the plan's peak: "
                f"{peak_customers} customers of {user_classes})",
                f"{record['summary']}\n" + capacityfile.format_record(record),
                capacity_orders_per_s=record["orders_per_s"],
                served_without_degrading=served,
            )
        )
    return {
        "floor_orders_per_s": round(floor, 2),
        "served_without_degrading": served,
        **{key: record[key] for key in ("orders_per_s", "interval_orders_per_s", "summary")},
        "limited_by": record["limited_by"],
    }


def pool_waiting_during(
    duration_s: float | list[float],
    interval_s: float = 0.5,
    metric: str = "db_pool_waiting",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Sample the API's ``metric`` gauge (requests waiting for a database connection) on
    its /metrics for ``duration_s``: peak, mean and how often anyone waited.

    Optional: the gauge is the reference café's, not the contract's; a target without
    it gives ``{"available": false}``. ``duration_s`` may list phases to add up.
    """
    with engine_call(f"sample {metric} on the API's metrics", configuration) as target:
        duration_s = capacity.total_seconds(duration_s, "duration_s")
        url = target.api_url + "/metrics"
        require_loopback(url, target.allow_remote_target)
    if not 0 < duration_s <= MAX_WINDOW_S or not 0.05 <= interval_s <= duration_s:
        raise ActivityFailed(
            f"duration_s must be in (0, {MAX_WINDOW_S}] and interval_s in [0.05, duration_s], "
            f"got {duration_s!r} and {interval_s!r}"
        )
    pattern = re.compile(rf"^{re.escape(metric)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", re.MULTILINE)
    values: list[float] = []
    unanswered = 0
    deadline = time.monotonic() + duration_s
    with requests.Session() as session:
        while True:
            try:
                text = session.get(url, timeout=min(2.0, interval_s * 4)).text
                values.extend(float(v) for v in pattern.findall(text)[:1])
            except requests.RequestException:
                unanswered += 1
            if time.monotonic() + interval_s > deadline:
                break
            time.sleep(interval_s)
    if not values:
        return {"available": False, "metric": metric, "unanswered": unanswered}
    return {
        "available": True,
        "metric": metric,
        "samples": len(values),
        "unanswered": unanswered,
        "peak": max(values),
        "mean": round(sum(values) / len(values), 3),
        "samples_with_waiters": sum(1 for v in values if v > 0),
    }


def spike_phases(
    base_s: float,
    ramp_s: float,
    hold_s: float,
    after_s: float,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Offered vs served orders/s, latency, failures and 503s in each phase of the spike
    (before, ramp-up, peak, ramp-down, after) of the current load run, whose users it reads
    (the plan's, or sized by the capacity: ``actions.capacity.start_spike``): queueing shows
    as served < offered. Newly spawned users order at once, so a ramp may serve more than
    offered.

    Waits until the live statistics cover the whole spike.
    """
    with engine_call("measure the spike's phases", configuration) as target:
        run = locustrun.latest(target)
        base_users = run["shape_params"]["base_users"]
        peak_users = run["shape_params"]["peak_users"]
        per_user = capacity.offered_per_user(loadplan.parse_user_classes(user_classes))
        began = capacity.first_second(
            run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
        )
        end_t = began + int(base_s + ramp_s + hold_s + after_s)
        seconds = _seconds_until(run["live_file"], end_t)
    middle = (base_users + peak_users) / 2
    plan = [
        ("before", base_s, base_users),
        ("ramp-up", ramp_s, middle),
        ("peak", hold_s, peak_users),
        ("ramp-down", min(ramp_s, after_s), middle),
        ("after", max(0, after_s - ramp_s), base_users),
    ]
    phases, start = [], began
    for name, length, users in plan:
        end = start + int(length)
        if end <= start:
            continue
        row = capacity.measure(seconds, start, end, users * per_user)
        served_share = row["served_per_s"] / row["offered_per_s"] if row["offered_per_s"] else None
        phases.append(
            {
                "phase": name,
                "users": users,
                **row,
                "served_share": round(served_share, 3) if served_share else None,
            }
        )
        start = end
    peak = next(p for p in phases if p["phase"] == "peak")
    return {
        "phases": phases,
        "queueing": peak["served_share"] is not None and peak["served_share"] < 0.9,
        "answers_503": sum(p["answers_503"] for p in phases),
    }


def _seconds_until(live_file: str, end_t: int) -> list[dict[str, Any]]:
    """The live seconds once they reach ``end_t`` (or the run ended, or the wait is too long)."""
    deadline = time.monotonic() + max(0, end_t - time.time()) + 10
    while True:
        seconds = livestats.read_seconds(live_file)
        newest = max((s["t"] for s in seconds), default=0)
        if newest >= end_t - 1 or time.monotonic() > deadline:
            return seconds
        time.sleep(1)


def capacity_was_found(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The step test of this run found a capacity (orders/s) before latency degraded."""
    with engine_call("read the step test's result", configuration) as target:
        path = target.run_dir / capacityfile.FILE_NAME
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ActivityFailed(f"no step test result in {path} ({exc}): run find-capacity") from None
    if not record.get("orders_per_s"):
        raise ActivityFailed(
            unmet(
                f"the first step ({record['steps'][0]['users']} users) served without degrading",
                f"{record.get('knee_reason')}\n" + capacity.format_table(record),
            )
        )
    return record


def mixes_within_limits(
    p99_ms: float,
    max_failure_ratio: float,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Every weight mix of this run (``actions.capacity.run_mixes``) kept its orders' P99 and
    failure ratio within bounds; returns the mixes side by side."""
    with engine_call("read the mixes' results", configuration) as target:
        path = target.run_dir / "mixes.json"
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
            unmet(
                f"every mix to keep P99 <= {p99_ms} ms and failure ratio <= {max_failure_ratio}",
                f"these did not: {bad}",
            )
        )
    return side_by_side
