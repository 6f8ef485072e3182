"""Chaos Toolkit probes: the state of the target's services."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import not_available, unmet
from gameday import locustrun, services
from gameday.errors import GamedayError

__all__ = ["api_not_restarted_during_load", "service_is_running", "service_status"]
logger = logging.getLogger("chaostoolkit")


def service_status(
    service: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """{service, program, platform, state, running, pid, uptime} of ``service``."""
    with engine_call(f"read the status of service {service!r}", configuration) as target:
        return services.status(service, target, secrets=secrets)


def service_is_running(
    service: str,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """True while ``service`` runs; for tolerances. An unknown service always raises.

    With ``raise_on_unavailable=False``, an unreachable process manager reads as
    "not running" (and is logged) instead of failing the probe.
    """
    with engine_call(f"check service {service!r}", configuration) as target:
        target.service(service)
        try:
            status = services.status(service, target, secrets=secrets)
        except GamedayError as exc:
            if raise_on_unavailable:
                raise
            logger.warning("service %r reads as not running: %s", service, exc)
            return False
    return bool(status["running"])


def api_not_restarted_during_load(
    service: str = "api", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The API process has been up since before the load began: it recovered by itself.

    Needs an uptime: the process manager's (supervisor) or the youngest ready container's
    (Kubernetes: a restarted container or a replaced pod counts as a restart); a platform
    that gives none is not judged.
    """
    with engine_call(f"tell whether {service} was restarted", configuration) as target:
        run = locustrun.current(target)
        status = services.status(service, target, secrets=secrets)
    since_load = time.time() - datetime.fromisoformat(run["started_at"]).timestamp()
    if status.get("uptime") is None:
        return not_available(
            f"{service} not restarted", f"the {status.get('platform')} platform gives no uptime"
        )
    if status.get("state") != "RUNNING" or status["uptime"] < since_load:
        raise ActivityFailed(
            unmet(
                f"{service} running since the load started {since_load:.0f} s ago, unrestarted",
                f"{status.get('state')} for {status.get('uptime')} s",
            )
        )
    return {**status, "load_started_s_ago": round(since_load, 1)}
