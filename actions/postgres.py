"""Chaos Toolkit actions: lock a table of the target's database from a session of its own,
and release it.

The lock is held by a holder process the fault ledger records (kind ``holder``) before it
locks, so the safety control and ``gameday recover`` kill it, and the lock with it, even
when the runner is gone. The schema is the configuration's ``postgres_schema``.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import pglock

__all__ = ["lock_table", "unlock_table"]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def lock_table(
    table: str = "orders",
    mode: str = "ACCESS EXCLUSIVE",
    hold_s: float = 120,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """``LOCK TABLE <table> IN <mode> MODE`` in a transaction held for at most ``hold_s``
    seconds (``unlock_table`` ends it sooner). Returns the holder's pid and its session's."""
    with engine_call(f"lock table {table!r}", configuration) as target:
        result = pglock.lock_table(target, table, mode, hold_s, secrets)
    logger.info("%s locked in %s mode by pid %s", result["table"], mode, result["holder_pid"])
    return result


@marks_faults
def unlock_table(
    table: str = "orders", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Release the lock on ``table``: kill its holder, wait until its session is gone."""
    with engine_call(f"unlock table {table!r}", configuration) as target:
        result = pglock.unlock_table(target, table, secrets)
    logger.info("table %r unlocked: %s", table, result["stopped"])
    return result
