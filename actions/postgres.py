"""Chaos Toolkit actions: lock a table of the target's database from a session of its own,
take every free connection slot, or make the database read-only, and undo each.

The lock and the connections are held by a holder process the fault ledger records (kind
``holder``) before it locks or connects, so the safety control and ``gameday recover`` kill
it, and the fault with it, even when the runner is gone. The read-only database is in the
ledger (kind ``read_only``) before it is altered. The schema is the configuration's
``postgres_schema``.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import pgconns, pglock, pgreadonly

__all__ = [
    "exhaust_connections",
    "lock_table",
    "make_read_only",
    "make_writable",
    "release_connections",
    "unlock_table",
]
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


@marks_faults
def make_read_only(
    terminate_sessions: bool = True, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """``ALTER DATABASE <db> SET default_transaction_read_only = on``, then end the database's
    client sessions so that they reconnect read-only (a failover to a replica, as clients see
    it). Returns the database and how many sessions were ended."""
    with engine_call("make the database read-only", configuration) as target:
        result = pgreadonly.make_read_only(target, terminate_sessions, secrets)
    logger.info(
        "database %s read-only, %s sessions ended", result["database"], result["terminated"]
    )
    return result


@marks_faults
def make_writable(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """RESET default_transaction_read_only and end the sessions opened read-only meanwhile
    (the credential is the target's secrets file's, as recovery's)."""
    with engine_call("make the database writable again", configuration) as target:
        result = pgreadonly.restore(target)
    logger.info("database writable again: %s", result["restored"])
    return result
