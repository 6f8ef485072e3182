"""Connection resets laid anew every period: each ``period_s``, every open connection to the
dependency is reset with probability ``toxicity``, and so is each new one.

The fault proxy (like Toxiproxy) rolls a toxic's toxicity once per connection: laid once, a
pool's long-lived connections would be decided for the whole fault, and a pool that never
replaces a broken connection would be caught only by chance. So the ``reset_peer`` toxic is
laid for ``period_s``, removed and laid again (a new roll on every connection), for
``fault_s``. Each lay is ``netfault.inject`` (ledger kind ``toxic``, recorded before the toxic
is added) and each removal reverts that entry and resolves it: a runner killed mid-fault
leaves one recorded toxic, which recover deletes.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import netfault
from gameday.errors import NetFaultError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["MAX_FAULT_S", "reset_rounds"]

MAX_FAULT_S = 3600


def reset_rounds(
    target: Target,
    dependency: str,
    toxicity: float,
    period_s: float,
    fault_s: float,
    timeout_ms: int = 0,
    backend: str = "auto",
) -> dict[str, Any]:
    """Lay the reset toxic anew every ``period_s`` for ``fault_s``; it is gone on every way
    out. Returns the rounds laid and the toxic's last injection."""
    netfault.Fault("reset", timeout_ms=timeout_ms, toxicity=toxicity)  # checked before all
    _check(period_s, fault_s)
    began, began_at = time.monotonic(), time.time()
    rounds, injected, laid, first = 0, {}, None, None
    try:
        while True:
            round_began = time.monotonic()
            injected = netfault.inject(
                target,
                dependency,
                "reset",
                timeout_ms=timeout_ms,
                toxicity=toxicity,
                backend=backend,
            )
            laid, rounds = injected["ledger_id"], rounds + 1
            first = first or laid
            end = min(round_began + period_s, began + fault_s)
            time.sleep(max(0.0, end - time.monotonic()))
            _lift(target, laid)
            laid = None
            if end >= began + fault_s:
                break
    finally:
        if laid:
            _lift(target, laid)
    # One fault window for the report (controls.marks): from the first lay to the last lift.
    mark = {
        "kind": "toxic",
        "subject": dependency,
        "note": f"reset_peer toxic, toxicity {toxicity:g}, laid anew every {period_s:g} s",
        "ledger_id": first,
    }
    return {
        "fault": {**mark, "at": round(began_at, 3)},
        "reverts": [{**mark, "at": round(time.time(), 3)}],
        "dependency": dependency,
        "toxicity": toxicity,
        "period_s": period_s,
        "fault_s": fault_s,
        "rounds": rounds,
        "began_at": round(began_at, 3),
        "lasted_s": round(time.monotonic() - began, 3),
        "toxic": {k: injected.get(k) for k in ("backend", "proxy", "toxic", "type", "attributes")},
    }


def _lift(target: Target, entry_id: str) -> None:
    """Delete the toxic of ledger entry ``entry_id`` (this runner's only) and resolve it."""
    book = ledger_for(target)
    for entry in book.entries():
        if entry["id"] == entry_id:
            netfault.revert(entry, target)
            book.resolve(entry_id)


def _check(period_s: float, fault_s: float) -> None:
    for key, value in (("period_s", period_s), ("fault_s", fault_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise NetFaultError(f"{key} must be a positive number of seconds, got {value!r}")
    if not period_s <= fault_s <= MAX_FAULT_S:
        raise NetFaultError(
            f"fault_s ({fault_s:g}) must be at least period_s ({period_s:g}) and at most "
            f"{MAX_FAULT_S} s"
        )
