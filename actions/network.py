"""Chaos Toolkit actions: latency, timeouts, resets and bandwidth between the API and a
dependency.

``backend`` is ``auto`` (the fault proxy when the target routes the dependency
through it, else Chaos Mesh on a Kubernetes target, else netem), ``proxy``, ``netem``
or ``chaosmesh``; netem needs ``netem_interface`` in the experiment's configuration.
Each fault is recorded in the ledger first.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import netfault, resets
from gameday.ledger import ledger_for

__all__ = [
    "add_latency",
    "add_timeout",
    "limit_bandwidth",
    "remove_network_faults",
    "reset_connections",
]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def add_latency(
    dependency: str,
    latency_ms: int = 500,
    jitter_ms: int = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Delay ``dependency``'s replies to the API by latency_ms ± jitter_ms."""
    with engine_call(f"inject latency towards {dependency!r}", configuration) as target:
        result = netfault.inject(
            target,
            dependency,
            "latency",
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            backend=backend,
        )
    logger.info("network fault injected: %s", result)
    return result


@marks_faults
def add_timeout(
    dependency: str,
    timeout_ms: int = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Stall ``dependency``'s traffic; the proxy closes after timeout_ms (0: never)."""
    with engine_call(f"inject a timeout towards {dependency!r}", configuration) as target:
        result = netfault.inject(
            target, dependency, "timeout", timeout_ms=timeout_ms, backend=backend
        )
    logger.info("network fault injected: %s", result)
    return result


@marks_faults
def reset_connections(
    dependency: str,
    timeout_ms: int = 0,
    toxicity: float = 1.0,
    period_s: float = 0,
    fault_s: float = 0,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Reset the API's connections to ``dependency`` (after timeout_ms), each with
    probability ``toxicity`` (0 < toxicity <= 1). With ``fault_s``, the reset is laid anew
    every ``period_s`` for fault_s (each open connection rolls again; see
    ``gameday.resets``) and gone on return; without, it stays until remove_network_faults."""
    what = f"reset the connections to {dependency!r}"
    with engine_call(what, configuration) as target:
        if fault_s:
            result = resets.reset_rounds(
                target,
                dependency,
                toxicity,
                period_s or fault_s,
                fault_s,
                timeout_ms=timeout_ms,
                backend=backend,
            )
        else:
            result = netfault.inject(
                target,
                dependency,
                "reset",
                timeout_ms=timeout_ms,
                toxicity=toxicity,
                backend=backend,
            )
    logger.info("network fault injected: %s", result)
    return result


@marks_faults
def limit_bandwidth(
    dependency: str,
    rate_kbps: int = 1,
    backend: str = "auto",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Pass ``dependency``'s replies to the API at rate_kbps KB/s (per connection)."""
    with engine_call(f"limit the bandwidth from {dependency!r}", configuration) as target:
        result = netfault.inject(
            target, dependency, "bandwidth", rate_kbps=rate_kbps, backend=backend
        )
    logger.info("network fault injected: %s", result)
    return result


@marks_faults
def remove_network_faults(
    dependency: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Remove the network faults towards ``dependency`` (None: every dependency); returns
    ``{"removed": [what was removed, per dependency]}``."""
    with engine_call("remove network faults", configuration) as target:
        if dependency is None:
            recorded = {
                e["subject"]
                for e in ledger_for(target).entries()
                if e["kind"] in ("toxic", "qdisc", "networkchaos")
            }
            # On Kubernetes, objects of ours may be left towards any declared dependency.
            others = set(target.services) - {"api"} if target.platform == "kubernetes" else set()
            dependencies = sorted(set(target.proxies) | recorded | others)
        else:
            if dependency not in target.proxies:
                target.service(dependency)
            dependencies = [dependency]
        removed = [netfault.remove(target, name) for name in dependencies]
    logger.info("network faults removed: %s", removed)
    return {"removed": removed}
