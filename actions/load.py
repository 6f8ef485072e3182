"""Chaos Toolkit actions: start and stop customer load (Locust, in its own process).

    {"type": "action", "name": "start-load", "provider": {"type": "python",
     "module": "actions.load", "func": "start_load",
     "arguments": {"users": 20, "duration_s": 120}}}

Locust runs against the target's ``api_url`` (loopback only, unless the
configuration sets ``allow_remote_target: true``); its files go to
``$COFFEE_CHAOS_RUN_DIR``, else configuration ``run_dir``, else ``runs/<stamp>``.

A shape replaces ``users``/``spawn_rate`` (``duration_s`` stays the bound)::

    "arguments": {"duration_s": 400, "shape": "spike",
                  "shape_params": {"base_users": 50, "peak_users": 500, "ramp_s": 30},
                  "workers": 2, "abort_failure_ratio": 0.5, "abort_after_s": 15}

``workers`` not given: the configuration's ``load_workers`` (0 when absent), so
one experiment file runs with 0 or N local workers
(``chaos run --var load_workers:int=2 ...``, ``gameday run --var load_workers=2 ...``).
Remote workers come from the target file's ``load`` section.

Every argument is checked before any load starts (see ``gameday.loadplan``).
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from gameday import loadplan, locustrun

__all__ = ["start_load", "stop_load"]
logger = logging.getLogger("chaostoolkit")


def start_load(
    users: int = 20,
    spawn_rate: float = 10,
    duration_s: int = 120,
    user_classes: str = loadplan.DEFAULT_USER_CLASSES,
    shape: str = "",
    shape_params: dict[str, Any] | None = None,
    workers: int | None = None,
    abort_failure_ratio: float = 0,
    abort_after_s: int = 0,
    dashboard_interval_s: float = 10,
    metrics_port: int = loadplan.METRICS_PORT,
    request_timeout_s: float | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Start Locust headless; return its pid, run directory and files once it reports.

    ``shape``: "" (``users`` at ``spawn_rate``), "stairs", "spike", "sustained" or
    "soak", with ``shape_params``; ``workers``: local Locust workers behind a master
    (0: one process; default: configuration ``load_workers``); ``abort_failure_ratio``/``abort_after_s``: self-stop on a dead
    target; ``dashboard_interval_s``: the target's DASHBOARD_UPDATE_INTERVAL, for the
    DashboardWatcher's jitter; ``metrics_port``: where Prometheus scrapes the load;
    ``request_timeout_s``: how long a request may hang before it counts as a failure
    (default: configuration ``request_timeout_s``, else Locust's 60 s).
    """
    with engine_call("start load", configuration) as target:
        if workers is None:
            workers = target.load_workers
        if request_timeout_s is None:
            request_timeout_s = target.request_timeout_s
        run = locustrun.start(
            run_dir=target.run_dir,
            host=target.api_url,
            users=users,
            spawn_rate=spawn_rate,
            run_time_s=duration_s,
            user_classes=loadplan.parse_user_classes(user_classes),
            target=target,
            shape=shape,
            shape_params=shape_params,
            workers=workers,
            abort_failure_ratio=abort_failure_ratio,
            abort_after_s=abort_after_s,
            dashboard_interval_s=dashboard_interval_s,
            metrics_port=metrics_port,
            request_timeout_s=request_timeout_s,
        )
    what = f"{shape} shape" if shape else f"{users} users"
    logger.info(
        f"Load started: {what} against {run['host']} (pid {run['pid']}, {workers} worker(s), "
        f"{run['remote_workers']} remote)"
    )
    return run


def stop_load(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Stop the current load gracefully; return the files written and summary totals.

    Idempotent, so that it serves as a rollback: with no load running it says so.
    """
    with engine_call("stop load", configuration) as target:
        try:
            result = locustrun.stop(target)
        except locustrun.NotRunning:
            return {"stopped": False, "note": "no load was running"}
    logger.info(f"Load stopped ({result['stopped']}); files in {result['run_dir']}")
    return result
