"""Chaos Toolkit actions: kill, stop, start and restart the target's services.

Each fault is recorded in the fault ledger before it is made; ``start_service``
(and ``gameday recover``) revert it.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from gameday import services

__all__ = [
    "kill_aggregator_mid_pass",
    "kill_one_pod",
    "kill_service",
    "restart_service",
    "start_service",
    "stop_service",
]
logger = logging.getLogger("chaostoolkit")

PASS_GAUGE = "aggregator_pass_in_progress"
_GAUGE_LINE = re.compile(rf"^{PASS_GAUGE}(?:\{{[^}}]*\}})?\s+(\S+)", re.MULTILINE)


def kill_service(
    service: str,
    timeout_s: float = 10.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill ``service`` abruptly: SIGKILL to its process group (pods: no grace period)."""
    what = f"kill service {service!r}"
    with engine_call(what, configuration) as target:
        return _logged(what, services.kill(service, target, timeout_s, secrets))


def kill_one_pod(
    service: str = "api",
    timeout_s: float = 120.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill one ready pod of several with no grace (Kubernetes only); its controller recreates
    it. Returns, and records for ``probes.pods``, the seconds until its Service stopped
    routing to it and until the replacement was ready (waiting up to ``timeout_s``)."""
    what = f"kill one pod of service {service!r}"
    with engine_call(what, configuration) as target:
        return _logged(what, services.kill_one_pod(service, target, timeout_s, secrets))


def stop_service(
    service: str,
    timeout_s: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Stop ``service`` gracefully (pods: scale its deployment to 0)."""
    what = f"stop service {service!r}"
    with engine_call(what, configuration) as target:
        return _logged(what, services.stop(service, target, timeout_s, secrets))


def start_service(
    service: str,
    timeout_s: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Start ``service`` and wait until it runs; a running service is left as it is."""
    what = f"start service {service!r}"
    with engine_call(what, configuration) as target:
        return _logged(what, services.start(service, target, timeout_s, secrets))


def restart_service(
    service: str,
    timeout_s: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Stop then start ``service``."""
    what = f"restart service {service!r}"
    with engine_call(what, configuration) as target:
        return _logged(what, services.restart(service, target, timeout_s, secrets))


def kill_aggregator_mid_pass(
    metrics_url: str = "",
    wait_s: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill the ``aggregator`` while it computes a pass.

    Relies on the reference café's OPTIONAL gauge ``aggregator_pass_in_progress``
    (not part of the target contract) at ``metrics_url`` (default: the target's
    ``aggregator_metrics_url``): waits up to ``wait_s`` for it to read 1, then
    kills. When the aggregator exposes no such gauge, falls back to a plain kill
    and says so in the result's ``note``. Passes of the reference café take
    milliseconds; its ``AGGREGATOR_HOLD_SECONDS`` widens the window to hit.
    """
    with engine_call("kill the aggregator mid-pass", configuration) as target:
        target.service("aggregator")
    began = time.monotonic()
    with requests.Session() as session:
        note = _await_pass(session, metrics_url or target.aggregator_metrics_url, wait_s, began)
    waited = round(time.monotonic() - began, 3)
    result = kill_service("aggregator", configuration=configuration, secrets=secrets)
    result.update({"mid_pass": not note, "waited_s": waited, "note": note})
    logger.info("aggregator killed after %.1f s%s", waited, f" ({note})" if note else " mid-pass")
    return result


def _await_pass(session: requests.Session, metrics_url: str, wait_s: float, began: float) -> str:
    """Wait until a pass is in progress; the note of a plain kill when that cannot be seen."""
    while True:
        value, problem = _gauge(session, metrics_url)
        if value is None:
            return f"plain kill: {problem}, so the kill may fall between passes"
        if value >= 1:
            return ""
        if time.monotonic() - began >= wait_s:
            raise ActivityFailed(
                f"aggregator: no pass started within {wait_s:g} s ({PASS_GAUGE} stayed 0 at "
                f"{metrics_url}); is the aggregator running its passes?"
            )
        time.sleep(0.01)


def _gauge(session: requests.Session, metrics_url: str) -> tuple[float | None, str]:
    try:
        response = session.get(metrics_url, timeout=2.0)
        response.raise_for_status()
    except requests.RequestException as exc:
        return None, f"{metrics_url} did not answer ({exc.__class__.__name__})"
    match = _GAUGE_LINE.search(response.text)
    if not match:
        return None, f"{metrics_url} exposes no {PASS_GAUGE} gauge"
    return float(match.group(1)), ""


def _logged(what: str, result: dict[str, Any]) -> dict[str, Any]:
    logger.info("%s: %s", what, {k: result.get(k) for k in ("state", "pid", "seconds")})
    return result
