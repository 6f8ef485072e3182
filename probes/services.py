"""Chaos Toolkit probes: the state of the target's services."""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from gameday import services
from gameday.errors import GamedayError

__all__ = ["service_is_running", "service_status"]
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
