"""Every free connection slot of the target's PostgreSQL taken by a holder process
(``gameday.connholder``) that the ledger records (kind ``holder``) before it connects, so
``gameday recover`` kills it, and its connections with it, even when the runner is gone.

The slots taken are those a client of the DSN's role may use: ``max_connections`` less the
reserved ones (``superuser_reserved_connections``, and ``reserved_connections`` where the
server has it) less the client sessions already open. The holder lets go by itself after
``hold_s``. With a superuser's DSN, the reserved slots are left free all the same.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import holders
from gameday.connholder import APPLICATION, DSN_ENV
from gameday.errors import GamedayError
from gameday.postgres import connect, dsn_for, wait_sessions_gone
from gameday.target import Target

__all__ = ["MAX_HOLD_S", "ConnectionsError", "exhaust", "release"]

MAX_HOLD_S = 3600
SUBJECT = "postgresql connection slots"
SLOTS = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
       + coalesce(current_setting('reserved_connections', true)::int, 0),
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
"""


class ConnectionsError(GamedayError):
    """Slots could not be taken (bad input, none free) or given back."""


def exhaust(
    target: Target, hold_s: float = 300, secrets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Take every free connection slot for at most ``hold_s`` seconds."""
    check(hold_s)
    dsn = dsn_for(target, secrets)
    with connect(dsn, "count the free connection slots") as conn:
        limit, reserved, in_use, superuser = conn.execute(SLOTS).fetchone()
    free = limit - reserved - in_use + 1  # this session ends before the holder connects
    if free <= 0:
        raise ConnectionsError(
            f"no free connection slot to take: {in_use} client sessions of max_connections "
            f"{limit} ({reserved} reserved); nothing was held"
        )
    held = holders.hold(
        target,
        SUBJECT,
        "gameday.connholder",
        # the server refuses a role's client at the reserved slots; a superuser it does not
        {"limit": free if superuser else limit - reserved, "hold_s": hold_s},
        {DSN_ENV: dsn},
        note=f"every free connection slot ({free} of {limit}) held for at most {hold_s:g} s",
    )
    return {
        "max_connections": limit,
        "reserved": reserved,
        "in_use_before": in_use,
        "taken": int(held["ready"][0]),
        "hold_s": hold_s,
        "holder_pid": held["pid"],
        "ledger_id": held["ledger_id"],
    }


def release(target: Target, secrets: dict[str, Any] | None = None) -> dict[str, Any]:
    """Kill the holder and wait until the server saw its sessions end."""
    released = holders.release(target, SUBJECT)
    began = time.monotonic()
    if released["changed"]:
        wait_sessions_gone(dsn_for(target, secrets), APPLICATION, "the held connections")
    return {**released, "seconds": round(time.monotonic() - began, 3)}


def check(hold_s: Any) -> None:
    """Refuse a bad ``hold_s``, naming it."""
    if isinstance(hold_s, bool) or not isinstance(hold_s, int | float):
        raise ConnectionsError(f"hold_s must be a number of seconds, got {hold_s!r}")
    if not 0 < hold_s <= MAX_HOLD_S:
        raise ConnectionsError(
            f"hold_s {hold_s:g} is out of range: hold the connections 1-{MAX_HOLD_S} s"
        )
