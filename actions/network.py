"""Chaos Toolkit actions: latency, timeouts and resets between the API and a dependency.

``backend`` is ``auto`` (the fault proxy when the target routes the dependency
through it, else netem), ``proxy`` or ``netem``; netem needs ``netem_interface``
in the experiment's configuration. Each fault is recorded in the ledger first.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import netfault
from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target, TargetError, load_target

__all__ = ["add_latency", "add_timeout", "remove_network_faults", "reset_connections"]
logger = logging.getLogger("chaostoolkit")


def add_latency(
    dependency: str,
    latency_ms: int = 500,
    jitter_ms: int = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Delay ``dependency``'s replies to the API by latency_ms ± jitter_ms."""
    return _inject(
        dependency,
        configuration,
        kind="latency",
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        backend=backend,
    )


def add_timeout(
    dependency: str,
    timeout_ms: int = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Stall ``dependency``'s traffic; the proxy closes after timeout_ms (0: never)."""
    return _inject(
        dependency, configuration, kind="timeout", timeout_ms=timeout_ms, backend=backend
    )


def reset_connections(
    dependency: str,
    timeout_ms: int = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Reset the API's connections to ``dependency`` (after timeout_ms)."""
    return _inject(dependency, configuration, kind="reset", timeout_ms=timeout_ms, backend=backend)


def remove_network_faults(
    dependency: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Remove the network faults towards ``dependency`` (None: every dependency)."""
    target = _target(configuration)
    try:
        if dependency is None:
            recorded = {
                e["subject"]
                for e in ledger_for(target).entries()
                if e["kind"] in ("toxic", "qdisc")
            }
            dependencies = sorted(set(target.proxies) | recorded)
        else:
            if dependency not in target.proxies:
                target.service(dependency)
            dependencies = [dependency]
        removed = [netfault.remove(target, name) for name in dependencies]
    except (TargetError, GamedayError) as exc:
        raise ActivityFailed(f"could not remove network faults: {exc}") from None
    logger.info("network faults removed: %s", removed)
    return removed


def _target(configuration: Configuration) -> Target:
    try:
        return load_target(configuration)
    except TargetError as exc:
        raise ActivityFailed(str(exc)) from None


def _inject(dependency: str, configuration: Configuration, **kwargs: Any) -> dict[str, Any]:
    target = _target(configuration)
    try:
        result = netfault.inject(target, dependency, **kwargs)
    except (TargetError, GamedayError) as exc:
        raise ActivityFailed(
            f"could not inject {kwargs['kind']} towards {dependency!r}: {exc}"
        ) from None
    logger.info("network fault injected: %s", result)
    return result
