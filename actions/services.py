"""Chaos Toolkit actions: kill, stop, start, restart, freeze, thaw and flap the target's services.

Each fault is recorded in the fault ledger before it is made; ``start_service``
(``thaw_service`` for a freeze) and ``gameday recover`` revert it.
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
from controls.marks import marks_faults
from gameday import crashrestart, flapping, freeze, services
from gameday.httpcheck import require_loopback

__all__ = [
    "crash_and_restart_service",
    "flap_service",
    "freeze_service",
    "kill_aggregator_mid_pass",
    "kill_one_pod",
    "kill_service",
    "restart_service",
    "start_service",
    "stop_service",
    "thaw_service",
]
logger = logging.getLogger("chaostoolkit")

PASS_GAUGE = "aggregator_pass_in_progress"
_GAUGE_LINE = re.compile(rf"^{PASS_GAUGE}(?:\{{[^}}]*\}})?\s+(\S+)", re.MULTILINE)


@marks_faults
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


@marks_faults
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


@marks_faults
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


@marks_faults
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


@marks_faults
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


@marks_faults
def freeze_service(
    service: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Freeze ``service``: SIGSTOP its processes, so its ports stay open and nothing answers.
    ``thaw_service`` (and ``gameday recover``) sends SIGCONT to the recorded processes."""
    what = f"freeze service {service!r}"
    with engine_call(what, configuration) as target:
        result = freeze.freeze(target, service)
    logger.info("%s: SIGSTOP to %s", what, result["stopped_pids"])
    return result


@marks_faults
def thaw_service(
    service: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Thaw ``service``: SIGCONT what its freeze stopped; without a freeze, nothing changes."""
    what = f"thaw service {service!r}"
    with engine_call(what, configuration) as target:
        result = freeze.thaw(target, service)
    logger.info("%s: SIGCONT to %s", what, result["continued_pids"])
    return result


@marks_faults
def flap_service(
    service: str,
    period_s: float = 15.0,
    down_s: float = 5.0,
    fault_s: float = 120.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill ``service`` every ``period_s`` and start it again ``down_s`` later, for
    ``fault_s``; each kill is recorded in the ledger as ``kill_service`` records it, and the
    service runs again on every way out. Returns (and records for
    ``probes.services.failures_within_down_share``) every outage and the share of the time
    the service was down."""
    what = f"flap service {service!r}"
    with engine_call(what, configuration) as target:
        result = flapping.flap(service, target, period_s, down_s, fault_s, secrets)
    logger.info(
        "%s: %d outages, down %.1f s (%.0f %%)",
        what,
        result["cycles"],
        result["down_total_s"],
        100 * result["down_share"],
    )
    return result


@marks_faults
def crash_and_restart_service(
    service: str = "api",
    fault_s: float = 60.0,
    answer_deadline_s: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """SIGKILL ``service`` and start it again at once (a restart policy, for this fault only);
    wait up to ``answer_deadline_s`` for the API's first good answer, then until ``fault_s``
    after the kill. Returns, and records for ``probes.services``, the outage and
    ``first_good_answer_s`` (None if none came in time)."""
    what = f"crash service {service!r} under a restart policy"
    with engine_call(what, configuration) as target:
        result = crashrestart.crash_and_restart(
            service, target, fault_s, answer_deadline_s, secrets
        )
    logger.info(
        "%s: running again after %.1f s, first good answer after %s s",
        what,
        result["restarted_s"],
        result["first_good_answer_s"],
    )
    return result


@marks_faults
def kill_aggregator_mid_pass(
    metrics_url: str = "",
    wait_s: float = 30.0,
    into_pass_s: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill the ``aggregator`` ``into_pass_s`` into a pass, while it still runs.

    Relies on the reference café's OPTIONAL gauge ``aggregator_pass_in_progress``
    (not part of the target contract) at ``metrics_url`` (default: the target's
    ``aggregator_metrics_url``): waits up to ``wait_s`` for a pass that reads 1 and
    still reads 1 ``into_pass_s`` later, then kills. When the aggregator exposes no such
    gauge, falls back to a plain kill and says so in the result's ``note``. Passes of the
    reference café take milliseconds; its ``AGGREGATOR_HOLD_SECONDS`` holds each one
    (between its writes, for a café that writes key by key), and ``into_pass_s`` lands the
    kill inside that hold rather than racing the pass's first writes.
    """
    if not 0 <= into_pass_s < wait_s:
        raise ActivityFailed(
            f"into_pass_s must be at least 0 and under wait_s ({wait_s:g}), not {into_pass_s!r}"
        )
    with engine_call("kill the aggregator mid-pass", configuration) as target:
        target.service("aggregator")
        metrics_url = metrics_url or target.aggregator_metrics_url
        require_loopback(metrics_url, target.allow_remote_target)
    began = time.monotonic()
    with requests.Session() as session:
        note = _await_pass(session, metrics_url, wait_s, began, into_pass_s)
    waited = round(time.monotonic() - began, 3)
    result = kill_service("aggregator", configuration=configuration, secrets=secrets)
    result.update({"mid_pass": not note, "waited_s": waited, "note": note})
    logger.info("aggregator killed after %.1f s%s", waited, f" ({note})" if note else " mid-pass")
    return result


def _await_pass(
    session: requests.Session, metrics_url: str, wait_s: float, began: float, into_s: float
) -> str:
    """Wait until a pass has run ``into_s``; the note of a plain kill when that cannot be seen."""
    while True:
        value, problem = _gauge(session, metrics_url)
        if value is None:
            return f"plain kill: {problem}, so the kill may fall between passes"
        if value >= 1:
            time.sleep(into_s)
            if not into_s or (_gauge(session, metrics_url)[0] or 0) >= 1:
                return ""
        if time.monotonic() - began >= wait_s:
            lasting = f" and still ran {into_s:g} s later" if into_s else ""
            raise ActivityFailed(
                f"aggregator: no pass started within {wait_s:g} s{lasting} ({PASS_GAUGE} at "
                f"{metrics_url}); is the aggregator running its passes"
                f"{', and are they longer than into_pass_s' if into_s else ''}?"
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
