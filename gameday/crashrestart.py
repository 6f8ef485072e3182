"""A crash under a restart policy: the API SIGKILLed and started again at once, as
supervisor's ``autorestart`` or a Deployment would (the lab's own policy stays "never": only
this fault restarts it), then the seconds until it answers again measured from the kill.

The kill is ``services.kill`` (ledger kind ``service``, recorded before the SIGKILL) and the
start ``services.start`` (which resolves it), so a runner killed in between leaves what a
kill leaves and ``gameday recover`` starts the API. The outage (from the kill to the first
good answer: /readyz 200 and an order acknowledged) is written to ``flapping.FLAP_FILE`` for
``probes.services.failures_within_down_share``, the fault window being ``fault_s`` from the
kill.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gameday import flapping, services
from gameday.errors import ServiceError
from gameday.httpcheck import recovery_failure
from gameday.target import Target

__all__ = ["crash_and_restart"]

POLL_S = 0.1
CALL_TIMEOUT_S = 2.0


def crash_and_restart(
    name: str, target: Target, fault_s: float, answer_deadline_s: float, secrets: Any = None
) -> dict[str, Any]:
    """SIGKILL ``name``, start it at once, wait up to ``answer_deadline_s`` for the API's first
    good answer, then until ``fault_s`` after the kill. ``first_good_answer_s`` is None when
    no good answer came in time (the service runs again anyway)."""
    _check(fault_s, answer_deadline_s)
    if not services.status(name, target, secrets)["running"]:
        raise ServiceError(f"cannot crash service {name!r}: it is not running; start it first")
    began, killed_at = time.monotonic(), time.time()
    try:
        services.kill(name, target, secrets=secrets)
    finally:
        services.start(name, target, secrets=secrets)
    restarted_s = round(time.monotonic() - began, 3)
    answered_s = _first_good_answer(target.api_url, began, answer_deadline_s)
    down_s = answered_s if answered_s is not None else round(time.monotonic() - began, 3)
    time.sleep(max(0.0, began + fault_s - time.monotonic()))
    outage = {"killed_at": round(killed_at, 3), "back_at": round(killed_at + down_s, 3)}
    return flapping.record_outages(
        target,
        name,
        killed_at,
        [{**outage, "down_s": down_s}],
        fault_s=fault_s,
        restarted_s=restarted_s,
        first_good_answer_s=answered_s,
        answer_deadline_s=answer_deadline_s,
    )


def _first_good_answer(api_url: str, began: float, deadline_s: float) -> float | None:
    """Seconds from ``began`` until /readyz answers 200 and an order is acknowledged."""
    while time.monotonic() - began < deadline_s:
        if recovery_failure(api_url, CALL_TIMEOUT_S, _order()) is None:
            return round(time.monotonic() - began, 3)
        time.sleep(POLL_S)
    return None


def _order() -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"drink": "latte", "store": "central", "price": 4.5, "timestamp": now}


def _check(fault_s: float, answer_deadline_s: float) -> None:
    for key, value in (("fault_s", fault_s), ("answer_deadline_s", answer_deadline_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ServiceError(f"{key} must be a positive number of seconds, got {value!r}")
    if answer_deadline_s > fault_s or fault_s > flapping.MAX_FAULT_S:
        raise ServiceError(
            f"answer_deadline_s ({answer_deadline_s:g}) must be at most fault_s "
            f"({fault_s:g}), and fault_s at most {flapping.MAX_FAULT_S} s"
        )
