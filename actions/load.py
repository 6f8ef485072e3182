"""Chaos Toolkit actions: start and stop customer load (Locust, in its own process).

    {"type": "action", "name": "start-load", "provider": {"type": "python",
     "module": "actions.load", "func": "start_load",
     "arguments": {"users": 20, "duration_s": 120}}}

Locust runs against the target's ``api_url`` (loopback only, unless the
configuration sets ``allow_remote_target: true``); its files go to
``$COFFEE_CHAOS_RUN_DIR``, else configuration ``run_dir``, else ``runs/<stamp>``.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import locustrun
from gameday.errors import GamedayError
from gameday.target import TargetError, load_target

__all__ = ["start_load", "stop_load"]
logger = logging.getLogger("chaostoolkit")


def start_load(
    users: int = 20,
    spawn_rate: float = 10,
    duration_s: int = 120,
    user_classes: str = locustrun.DEFAULT_USER_CLASSES,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Start Locust headless; return its pid, run directory and files once it reports."""
    try:
        target = load_target(configuration)
        run = locustrun.start(
            run_dir=locustrun.resolve_run_dir(configuration),
            host=target.api_url,
            users=users,
            spawn_rate=spawn_rate,
            run_time_s=duration_s,
            user_classes=locustrun.parse_user_classes(user_classes),
            target=target,
            allow_remote_target=bool((configuration or {}).get("allow_remote_target", False)),
        )
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(f"cannot start load: {exc}") from None
    logger.info(f"Load started: {users} users against {run['host']} (pid {run['pid']})")
    return run


def stop_load(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Stop the current load gracefully; return the files written and summary totals.

    Idempotent, so that it serves as a rollback: with no load running it says so.
    """
    try:
        target = load_target(configuration)
        result = locustrun.stop(target)
    except locustrun.NotRunning:
        return {"stopped": False, "note": "no load was running"}
    except (GamedayError, TargetError) as exc:
        raise ActivityFailed(f"cannot stop load: {exc}") from None
    logger.info(f"Load stopped ({result['stopped']}); files in {result['run_dir']}")
    return result
