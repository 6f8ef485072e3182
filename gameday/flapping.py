"""A flapping service: killed, then started again ``down_s`` later, every ``period_s``, for
``fault_s``. Each kill is ``services.kill`` (ledger kind ``service``, recorded before the
SIGKILL) and each start ``services.start`` (which resolves it), so a runner killed in an
outage leaves what a kill leaves, and ``gameday recover`` starts the service again.

Every outage (from the kill until the service runs again) is written to ``FLAP_FILE`` in the
state directory, for ``probes.services.failures_within_down_share``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gameday import services
from gameday.errors import ServiceError
from gameday.target import Target

__all__ = ["FLAP_FILE", "MAX_FAULT_S", "flap", "record_outages"]

FLAP_FILE = "flapping.json"
MAX_FAULT_S = 3600


def flap(
    name: str,
    target: Target,
    period_s: float,
    down_s: float,
    fault_s: float,
    secrets: dict | None = None,
) -> dict[str, Any]:
    """Kill ``name`` every ``period_s`` and start it ``down_s`` later, for ``fault_s``; no
    outage outlasts ``fault_s``. The service runs again on every way out."""
    _check(period_s, down_s, fault_s)
    if not services.status(name, target, secrets)["running"]:
        raise ServiceError(f"cannot flap service {name!r}: it is not running; start it first")
    began, began_at = time.monotonic(), time.time()
    outages: list[dict[str, float]] = []
    down = False
    try:
        while time.monotonic() - began + down_s <= fault_s:
            cycle, killed_at = time.monotonic(), time.time()
            down = True
            services.kill(name, target, secrets=secrets)
            _sleep_until(cycle + down_s)
            services.start(name, target, secrets=secrets)
            down = False
            back_at = time.time()
            outages.append(
                {
                    "killed_at": round(killed_at, 3),
                    "back_at": round(back_at, 3),
                    "down_s": round(back_at - killed_at, 3),
                }
            )
            _sleep_until(min(cycle + period_s, began + fault_s))
    finally:
        if down:
            services.start(name, target, secrets=secrets)
    return record_outages(
        target, name, began_at, outages, period_s=period_s, down_s=down_s, fault_s=fault_s
    )


def record_outages(
    target: Target, name: str, began_at: float, outages: list[dict[str, Any]], **params: Any
) -> dict[str, Any]:
    """Write the outages of ``name`` since ``began_at`` (until now) to ``FLAP_FILE``, with
    the share of the time it was down, for ``failures_within_down_share``."""
    ended_at = time.time()
    down_total = sum(outage["down_s"] for outage in outages)
    record = {
        "service": name,
        **params,
        "began_at": round(began_at, 3),
        "ended_at": round(ended_at, 3),
        "cycles": len(outages),
        "outages": outages,
        "down_total_s": round(down_total, 3),
        "down_share": round(down_total / max(ended_at - began_at, 1e-9), 4),
    }
    path = target.state_dir / FLAP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return record


def _check(period_s: float, down_s: float, fault_s: float) -> None:
    for key, value in (("period_s", period_s), ("down_s", down_s), ("fault_s", fault_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ServiceError(f"{key} must be a positive number of seconds, got {value!r}")
    if down_s >= period_s:
        raise ServiceError(
            f"down_s ({down_s:g}) must be under period_s ({period_s:g}): the service must run "
            "again before the next kill"
        )
    if not period_s <= fault_s <= MAX_FAULT_S:
        raise ServiceError(
            f"fault_s ({fault_s:g}) must be at least period_s ({period_s:g}) and at most "
            f"{MAX_FAULT_S} s"
        )


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))
