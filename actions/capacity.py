"""Chaos Toolkit actions of the load experiments: the step test, the sustained load, the mixes.

    {"type": "action", "name": "find-capacity", "provider": {"type": "python",
     "module": "actions.capacity", "func": "find_capacity",
     "arguments": {"steps": [10, 100, 500], "step_s": 200, "settle_s": 40}}}

``find_capacity`` runs a stair-shaped Locust run, measures each step, finds
the knee (see ``gameday.capacity``), saves the figure to
``<state_dir>/capacity.json`` (or ``capacity_file``) and to the run
directory, and prints it. ``start_sustained_load`` offers a fraction of the
saved figure (open model). ``run_mixes`` plays the same load under several
class weightings, one after the other, and returns them side by side.
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
from gameday import capacity, livestats, loadplan, locustrun
from gameday.target import Target

__all__ = ["find_capacity", "run_mixes", "start_sustained_load", "start_watchers"]
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
    """Step test: the max orders/s before latency degrades, with the per-step table."""
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
        "measured_at": capacity.stamp(),
        "run_dir": run["run_dir"],
    }
    paths = [Path(run["run_dir"]) / capacity.FILE_NAME]
    if record["orders_per_s"]:
        paths.append(capacity.capacity_path(target, capacity_file))
    capacity.save_capacity(record, paths)
    logger.info("Step test:\n" + capacity.format_table(record))
    return {**record, "saved_to": [str(p) for p in paths]}


def start_sustained_load(
    fraction: float = 0.8,
    duration_s: int = 300,
    warmup_s: int = 30,
    spawn_rate: float = 10,
    user_rate_s: float = 0.5,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    capacity_file: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Offer ``fraction`` of the saved capacity (orders/s, open model) for ``warmup_s`` then
    ``duration_s`` (and a few seconds more, so the last window is whole when measured)."""
    if not 0 < fraction <= 1:
        raise ActivityFailed(f"fraction must be in (0, 1], got {fraction!r}")
    with engine_call("start the sustained load", configuration) as target:
        saved = capacity.load_capacity(capacity.capacity_path(target, capacity_file))
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
