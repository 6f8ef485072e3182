"""Chaos Toolkit actions of the load experiments: the capacity search, the plan's step test,
the sustained load and the spike sized by the capacity, the mixes.

    {"type": "action", "name": "search-capacity", "provider": {"type": "python",
     "module": "actions.capacity", "func": "search_capacity",
     "arguments": {"start_rate": 25, "precision": 0.05}}}

``search_capacity`` finds the most orders/s the target serves before it
degrades (``gameday.capsearch``), saves the record to the run directory and,
when it found a capacity, to ``<state_dir>/capacity.json`` (or
``capacity_file``), and prints it. ``find_capacity`` runs the plan's
stair-shaped step test, finds its knee (``gameday.capacity``) and says where it
ended against the searched capacity. ``start_sustained_load`` offers a fraction
of the searched capacity (open model); ``start_spike`` spikes to it.
``run_mixes`` plays the same load under several class weightings, one after
the other, and returns them side by side.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from actions.load import start_load, stop_load
from controls.adapter import engine_call
from gameday import capacity, capacityfile, capsearch, livestats, loadplan, locustrun
from gameday.searchload import SearchLoad
from gameday.target import Target

__all__ = [
    "find_capacity",
    "run_mixes",
    "search_capacity",
    "start_spike",
    "start_sustained_load",
    "start_watchers",
]
logger = logging.getLogger("chaostoolkit")

MIXES_FILE = "mixes.json"


def find_capacity(
    steps: list[int],
    step_s: int = 200,
    settle_s: int = 40,
    spawn_rate: float = 20,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    p99_threshold_ms: float = 200,
    max_failure_ratio: float = 0.01,
    min_growth: float = 0.5,
    capacity_file: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The plan's step test: the max orders/s before latency degrades, with the per-step
    table, and where its last step stood against the searched capacity (``capacity_file``)."""
    with engine_call("run the step test", configuration) as target:
        capacity.check_plan(steps, step_s, settle_s, spawn_rate)
        per_user = capacity.offered_per_user(loadplan.parse_user_classes(user_classes))
    run = start_load(
        users=max(steps),
        spawn_rate=spawn_rate,
        duration_s=len(steps) * step_s + 5,
        user_classes=user_classes,
        shape="stairs",
        shape_params={"steps": steps, "step_duration_s": step_s, "spawn_rate": spawn_rate},
        configuration=configuration,
    )
    live_file = Path(run["live_file"])
    with engine_call("measure the step test", configuration):
        started_t = _first_second(live_file, run["started_at"])
        time.sleep(max(0.0, started_t + len(steps) * step_s + 1 - time.time()))
        stop_load(configuration=configuration)
        table = capacity.analyse_steps(live_file, started_t, steps, step_s, settle_s, per_user)
    record = {
        **capacity.find_knee(table, p99_threshold_ms, max_failure_ratio, min_growth),
        "steps": table,
        "settings": {
            "steps": steps,
            "step_s": step_s,
            "settle_s": settle_s,
            "spawn_rate": spawn_rate,
            "user_classes": user_classes,
            "p99_threshold_ms": p99_threshold_ms,
            "max_failure_ratio": max_failure_ratio,
            "min_growth": min_growth,
        },
        "measured_at": capacityfile.stamp(),
        "run_dir": run["run_dir"],
        "against_searched": _against_searched(table[-1], target, capacity_file),
    }
    path = Path(run["run_dir"]) / capacityfile.FILE_NAME
    capacityfile.save_capacity(record, [path])
    logger.info("Step test:\n" + capacity.format_table(record))
    return {**record, "saved_to": [str(path)]}


def _against_searched(last: dict[str, Any], target: Target, capacity_file: str) -> dict:
    """Where the ramp's last step stood against the searched capacity, if one is usable."""
    try:
        searched = capacityfile.find_saved(
            capacityfile.capacity_path(target, capacity_file), target
        )
    except capacityfile.CapacityError as exc:
        return {"searched_orders_per_s": None, "note": str(exc)}
    if searched is None:
        return {"searched_orders_per_s": None, "note": "no capacity search is saved"}
    share = last["offered_per_s"] / searched["orders_per_s"]
    note = (
        f"the ramp ended offering {last['offered_per_s']} orders/s ({last['users']} customers), "
        f"{share:.0%} of the searched capacity ({searched['orders_per_s']} orders/s, "
        f"measured {searched.get('measured_at')})"
    )
    logger.info(note[0].upper() + note[1:])
    return {
        "searched_orders_per_s": searched["orders_per_s"],
        "last_step_offered_per_s": last["offered_per_s"],
        "share_of_searched": round(share, 3),
        "note": note,
    }


def search_capacity(
    start_rate: float = 25,
    precision: float = 0.05,
    step_s: int = 40,
    settle_s: int = 10,
    min_requests: int = 1000,
    min_rate: float = 2,
    max_rate: float = 5000,
    user_rate_s: float = 2,
    spawn_rate: float = 200,
    p99_threshold_ms: float = 200,
    max_failure_ratio: float = 0.01,
    served_margin: float = 0.05,
    max_workers: int = 0,
    cpu_bound: float = 0.9,
    max_loop_lag_ms: float = 50,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    load_limit_s: int = 3600,
    capacity_file: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Search the most orders/s the target serves before it degrades (``gameday.capsearch``:
    its settings, by the same names; ``p99_threshold_ms`` is its ``p99_ms``); local workers
    start at the configuration's ``load_workers``. Saves and returns the record."""
    with engine_call("plan the capacity search", configuration) as target:
        plan = capsearch.SearchPlan(
            start_rate=start_rate,
            precision=precision,
            step_s=step_s,
            settle_s=settle_s,
            min_requests=min_requests,
            min_rate=min_rate,
            max_rate=max_rate,
            user_rate_s=user_rate_s,
            spawn_rate=spawn_rate,
            p99_ms=p99_threshold_ms,
            max_failure_ratio=max_failure_ratio,
            served_margin=served_margin,
            max_workers=max_workers,
            cpu_bound=cpu_bound,
            max_loop_lag_ms=max_loop_lag_ms,
        )
        classes = loadplan.parse_user_classes(user_classes)
        capacity.offered_per_user(classes)  # customers only: a capacity in orders
        load = SearchLoad(target, plan, classes, target.load_workers, load_limit_s)
    began = time.monotonic()
    with engine_call("search the capacity", configuration):
        load.start(plan.offered(plan.start_rate))
        try:
            record = capsearch.search(plan, load.step, load.more_workers)
        finally:
            load.stop()
    record.update(duration_s=round(time.monotonic() - began, 1), user_classes=user_classes)
    return _save_search(record, target, capacity_file)


def _save_search(record: dict[str, Any], target: Target, capacity_file: str) -> dict[str, Any]:
    """Stamp the record with when and on which deployment, save it (where the load
    experiments read it only if it found a capacity), print it."""
    deployment = target.deployment
    record.update(
        measured_at=capacityfile.stamp(),
        deployment=deployment
        and {"stamp": deployment.stamp, "deployed_at": deployment.deployed_at.isoformat()},
        run_dir=str(target.run_dir),
    )
    paths = [target.run_dir / capacityfile.FILE_NAME]
    if record["orders_per_s"]:
        paths.append(capacityfile.capacity_path(target, capacity_file))
    capacityfile.save_capacity(record, paths)
    logger.info("Capacity search:\n" + capacityfile.format_record(record))
    return {**record, "saved_to": [str(p) for p in paths]}


def start_sustained_load(
    fraction: float = 0.8,
    duration_s: int = 300,
    warmup_s: int = 30,
    spawn_rate: float = 100,
    user_rate_s: float = 2,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    capacity_file: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Offer ``fraction`` of the searched capacity (orders/s, open model) for ``warmup_s``
    then ``duration_s`` (and a few seconds more, so the last window is whole when measured).
    Refused when none is saved, or when it is older than the target's last deployment."""
    if not 0 < fraction <= 1:
        raise ActivityFailed(f"fraction must be in (0, 1], got {fraction!r}")
    with engine_call("start the sustained load", configuration) as target:
        path = capacityfile.capacity_path(target, capacity_file)
        saved = capacityfile.load_capacity(path, target)
    rate = round(fraction * saved["orders_per_s"], 2)
    users = max(1, round(rate / user_rate_s))
    if users / spawn_rate > warmup_s:
        raise ActivityFailed(
            f"the {users} users of {rate} orders/s would still be spawning after the warm-up: "
            f"{users} at {spawn_rate}/s takes {users / spawn_rate:.0f} s > warmup_s {warmup_s}; "
            "raise spawn_rate or warmup_s"
        )
    run = start_load(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=warmup_s + duration_s + 15,
        user_classes=user_classes,
        shape="sustained",
        shape_params={
            "duration_s": warmup_s + duration_s + 10,
            "orders_per_s": rate,
            "user_rate_s": user_rate_s,
            "spawn_rate": spawn_rate,
        },
        configuration=configuration,
    )
    logger.info(f"Sustained load: {rate} orders/s, {fraction:.0%} of {saved['orders_per_s']}")
    return {
        **run,
        "orders_per_s": rate,
        "capacity_orders_per_s": saved["orders_per_s"],
        "capacity_measured_at": saved.get("measured_at"),
    }


def start_spike(
    base_users: int = 50,
    peak_users: int = 500,
    base_s: float = 60,
    ramp_s: float = 30,
    hold_s: float = 120,
    after_s: float = 120,
    capacity_share: float = 1.0,
    capacity_file: str = "",
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    duration_s: int = 900,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The morning-rush spike: ``base_users`` customers, up to ``peak_users`` in ``ramp_s``,
    held ``hold_s``, back down for ``after_s``.

    When a capacity search is saved (``capacity_file``) and ``capacity_share`` is above 0,
    the peak is the customers that offer that share of the capacity, and the base keeps the
    plan's base/peak ratio; refused when the saved capacity is older than the last
    deployment. ``capacity_share`` 0: the plan's customers whatever is saved."""
    if not isinstance(capacity_share, int | float) or not 0 <= capacity_share <= 10:
        raise ActivityFailed(
            f"capacity_share must be a number from 0 (the plan's customers) to 10, "
            f"got {capacity_share!r}"
        )
    with engine_call("size the spike", configuration) as target:
        per_user = capacity.offered_per_user(loadplan.parse_user_classes(user_classes))
        saved = None
        if capacity_share > 0:
            path = capacityfile.capacity_path(target, capacity_file)
            saved = capacityfile.find_saved(path, target)
        sized = {"base_users": base_users, "peak_users": peak_users}
        if saved is not None:
            base, peak = capacity.spike_customers(
                saved["orders_per_s"], capacity_share, base_users, peak_users, per_user
            )
            sized = {"base_users": base, "peak_users": peak}
    phases = {"base_s": base_s, "ramp_s": ramp_s, "hold_s": hold_s, "after_s": after_s}
    run = start_load(
        users=sized["peak_users"],
        duration_s=duration_s,
        user_classes=user_classes,
        shape="spike",
        shape_params={**sized, **phases},
        configuration=configuration,
    )
    logger.info(
        f"Spike {sized['base_users']} -> {sized['peak_users']} customers "
        + (f"({capacity_share:.0%} of {saved['orders_per_s']} orders/s)" if saved else "(plan)")
    )
    return {
        **run,
        **sized,
        "capacity_orders_per_s": saved["orders_per_s"] if saved else None,
        "capacity_measured_at": saved.get("measured_at") if saved else None,
    }


def run_mixes(
    mixes: list[str],
    users: int = 50,
    spawn_rate: float = 10,
    run_s: int = 120,
    settle_s: int = 20,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The same load (users, duration) under each class weighting of ``mixes``, one after
    the other; returns and saves (``<run_dir>/mixes.json``) their figures side by side."""
    if not isinstance(mixes, list) or len(mixes) < 2:
        raise ActivityFailed(f"mixes must list at least two class weightings, got {mixes!r}")
    if not isinstance(run_s, int) or not isinstance(settle_s, int) or run_s - settle_s < 3:
        raise ActivityFailed(
            f"each mix must be measured for at least 3 s after settle_s: run_s {run_s!r}, "
            f"settle_s {settle_s!r}"
        )
    with engine_call("run the mixes", configuration) as target:
        chosen = [loadplan.parse_user_classes(mix) for mix in mixes]
        per_user = [capacity.offered_per_user(classes) for classes in chosen]
    compared = []
    for index, (mix, classes, rate) in enumerate(zip(mixes, chosen, per_user, strict=True)):
        mix_dir = target.run_dir / f"mix-{index + 1}"
        with engine_call(f"run the load of mix {mix!r}", configuration):
            started_t, seconds = _play_mix(target, mix_dir, classes, users, spawn_rate, run_s)
        row = capacity.measure(seconds, started_t + settle_s, started_t + run_s, users * rate)
        compared.append({"mix": mix, "users": users, "run_dir": str(mix_dir), **row})
        logger.info(f"Mix {mix}: {row['served_per_s']} orders/s, P99 {row['p99_ms']} ms")
    result = {"mixes": compared, "users": users, "run_s": run_s, "settle_s": settle_s}
    target.run_dir.mkdir(parents=True, exist_ok=True)
    (target.run_dir / MIXES_FILE).write_text(json.dumps(result, indent=2))
    return result


def _play_mix(
    target: Target,
    mix_dir: Path,
    classes: dict[str, int],
    users: int,
    spawn_rate: float,
    run_s: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Play ``users`` of ``classes`` for ``run_s``: the second it began and its live seconds."""
    run = locustrun.start(
        mix_dir,
        target.api_url,
        users,
        spawn_rate,
        run_s + 5,
        classes,
        target,
        workers=target.load_workers,
        request_timeout_s=target.request_timeout_s,
    )
    started_t = _first_second(Path(run["live_file"]), run["started_at"])
    time.sleep(max(0.0, started_t + run_s - time.time()))
    locustrun.stop(target)  # writes the last seconds to the live file
    return started_t, livestats.read_seconds(run["live_file"])


def _first_second(live_file: Path, started_at: str) -> int:
    """The epoch second this Locust run began: its first live line since ``started_at``."""
    return capacity.first_second(live_file, datetime.fromisoformat(started_at).timestamp())


def start_watchers(
    steps: list[int],
    step_s: int = 60,
    spawn_rate: float = 50,
    dashboard_interval_s: float = 10,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Open ``steps`` concurrent dashboard WebSockets in turn (stairs of DashboardWatcher
    users, ``step_s`` each), then hold the last count one more step (for a restart)."""
    if not isinstance(steps, list) or not steps:
        raise ActivityFailed(f"steps must list numbers of WebSockets, got {steps!r}")
    held = [*steps, steps[-1]]
    return start_load(
        users=max(steps),
        spawn_rate=spawn_rate,
        duration_s=len(held) * step_s + 5,
        user_classes="DashboardWatcher=1",
        shape="stairs",
        shape_params={"steps": held, "step_duration_s": step_s, "spawn_rate": spawn_rate},
        dashboard_interval_s=dashboard_interval_s,
        configuration=configuration,
    )
