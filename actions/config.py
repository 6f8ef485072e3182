"""Chaos Toolkit actions: run a service with a few environment variables overridden.

``override_service_env`` writes ``<service_env_dir>/<service>.override.env``,
records it in the fault ledger (kind ``override``) and restarts the service;
``clear_service_env_override`` (and ``gameday recover``) deletes it and restarts
the service (see ``gameday.overrides``). The directory is the configuration's
``service_env_dir`` (see ``gameday.target``). Supervisor platform only.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import overrides

__all__ = ["clear_service_env_override", "override_service_env"]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def override_service_env(
    service: str,
    env: dict[str, Any],
    timeout_s: float = 60,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Override ``env`` (e.g. ``{"DB_POOL_MAX_SIZE": 2}``) for ``service`` and restart it."""
    with engine_call(f"override the environment of {service!r}", configuration) as target:
        result = overrides.override(target, service, env, timeout_s)
    logger.info("service %r restarted with %s", service, result["env"])
    return result


@marks_faults
def clear_service_env_override(
    service: str,
    timeout_s: float = 60,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Delete ``service``'s override file and restart it; without one, nothing changes."""
    with engine_call(f"clear the environment override of {service!r}", configuration) as target:
        return overrides.clear(target, service, timeout_s)
