"""Chaos Toolkit actions: lock a table of the target's database from a session of its own,
or take every free connection slot, and release them.

The lock and the connections are held by a holder process the fault ledger records (kind
``holder``) before it locks or connects, so the safety control and ``gameday recover`` kill
it, and the fault with it, even when the runner is gone. The schema is the configuration's
``postgres_schema``.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import pgconns, pglock

__all__ = ["exhaust_connections", "lock_table", "release_connections", "unlock_table"]
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


@marks_faults
def exhaust_connections(
    hold_s: float = 300, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Take every free connection slot of the target's PostgreSQL for at most ``hold_s``
    seconds (``release_connections`` gives them back sooner). Returns how many were taken."""
    with engine_call("take every free connection slot", configuration) as target:
        result = pgconns.exhaust(target, hold_s, secrets)
    logger.info(
        "%s of %s connection slots taken by pid %s",
        result["taken"],
        result["max_connections"],
        result["holder_pid"],
    )
    return result


@marks_faults
def release_connections(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Give the slots back: kill the holder, wait until its sessions are gone."""
    with engine_call("release the held connection slots", configuration) as target:
        result = pgconns.release(target, secrets)
    logger.info("connection slots released: %s", result["stopped"])
    return result
