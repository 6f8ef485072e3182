"""The health gate before each experiment of a game day.

The lab must be ready and quiet before the next experiment starts: the API's
``/readyz`` answers 200, the fault ledger is empty, every service runs and none
is frozen (a process in state T, stopped by SIGSTOP), the kill switch is off, and
all of it holds without a break for ``settle_s``. A gate that does not pass within
``timeout_s`` says why, and the session stops there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from gameday import freeze, ledger, services
from gameday.errors import GamedayError
from gameday.target import Target

__all__ = ["GateResult", "problems", "wait"]

POLL_S = 1.0


@dataclass
class GateResult:
    """Whether the gate opened, after how long, and else why not."""

    passed: bool
    waited_s: float
    reason: str = ""


def problems(target: Target) -> list[str]:
    """What keeps the lab from being ready now (empty: ready)."""
    found = []
    if target.kill_switch.exists():
        found.append(f"the kill switch {target.kill_switch} is set")
    try:
        code = requests.get(f"{target.api_url}/readyz", timeout=2).status_code
        if code != 200:
            found.append(f"{target.api_url}/readyz answers {code}")
    except requests.RequestException as exc:
        found.append(f"{target.api_url}/readyz does not answer ({type(exc).__name__})")
    try:
        pending = ledger.ledger_for(target).entries()
    except GamedayError as exc:
        pending, found = [], [*found, str(exc)]
    if pending:
        held = ", ".join(f"{e['kind']} {e['subject']}" for e in pending)
        found.append(f"the fault ledger holds {held} (revert with `gameday recover`)")
    found.extend(_services(target))
    return found


def wait(
    target: Target, settle_s: float, timeout_s: float, stop: Callable[[], str] | None = None
) -> GateResult:
    """Poll until the lab has been ready for ``settle_s`` in a row; give up after
    ``timeout_s`` (or as soon as ``stop`` returns a reason)."""
    began = time.monotonic()
    ready_since: float | None = None
    last: list[str] = []
    while True:
        now = time.monotonic()
        reason = stop() if stop else ""
        if reason:
            return GateResult(False, round(now - began, 1), reason)
        last = problems(target)
        ready_since = None if last else (ready_since or now)
        if ready_since is not None and now - ready_since >= settle_s:
            return GateResult(True, round(now - began, 1))
        if now - began >= timeout_s:
            why = "; ".join(last) or f"it was not quiet for {settle_s:g} s in a row"
            return GateResult(
                False,
                round(now - began, 1),
                f"the health gate did not pass in {timeout_s:g} s: {why}",
            )
        time.sleep(POLL_S)


def _services(target: Target) -> list[str]:
    found = []
    for name in target.services:
        try:
            facts = services.status(name, target)
        except GamedayError as exc:
            found.append(f"service {name}: {exc}")
            continue
        if facts.get("state") != "RUNNING":
            found.append(f"service {name} is {facts.get('state')}")
        elif target.platform == "supervisor" and facts.get("pid"):
            frozen = freeze.frozen([int(facts["pid"])])
            if frozen:
                found.append(f"service {name} is frozen (state T: pids {frozen})")
    return found
