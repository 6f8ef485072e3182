"""Fault actions mark their own results with what they did to the fault ledger.

``marks_faults`` wraps an action: it reads the target's ledger before and after the
call, and adds to the action's result

- ``fault``: the entry the call recorded (``kind``, ``subject``, ``note``,
  ``ledger_id``, ``at``: when it was recorded, just before the fault was made), and
- ``reverts``: the entries the call resolved (the same keys; ``at``: when the call
  returned, the dependency back).

The report shades fault windows from these marks (``gameday.faultwindows``), never from
the names of the functions that made them. Load runs (ledger kind ``locust``) are not
faults and are not marked.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import load_target

__all__ = ["marks_faults"]

NOT_FAULTS = ("locust",)


def marks_faults(action: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Add ``fault`` and ``reverts`` to the result of ``action`` (see the module)."""

    @functools.wraps(action)
    def marked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        before = _entries(kwargs.get("configuration"))
        result = action(*args, **kwargs)
        after = _entries(kwargs.get("configuration"))
        now = round(time.time(), 3)
        added = [_mark(e, _recorded_at(e, now)) for i, e in after.items() if i not in before]
        gone = [_mark(e, now) for i, e in before.items() if i not in after]
        if added and "fault" not in result:
            result["fault"] = added[-1]
        if gone and "reverts" not in result:
            result["reverts"] = gone
        return result

    return marked


def _entries(configuration: Any) -> dict[str, dict[str, Any]]:
    try:
        entries = ledger_for(load_target(configuration)).entries()
    except GamedayError:
        return {}  # the action itself says what is wrong with the target
    return {e["id"]: e for e in entries if e.get("kind") not in NOT_FAULTS}


def _mark(entry: dict[str, Any], at: float) -> dict[str, Any]:
    return {
        "kind": entry.get("kind"),
        "subject": entry.get("subject"),
        "note": entry.get("note", ""),
        "ledger_id": entry.get("id"),
        "at": at,
    }


def _recorded_at(entry: dict[str, Any], fallback: float) -> float:
    """Ledger ids begin with the nanosecond they were recorded at."""
    head = str(entry.get("id", "")).split("-", 1)[0]
    return round(int(head) / 1e9, 3) if head.isdigit() else fallback
