"""A table of the target's database locked by a session of its own, held by a holder process
(``gameday.lockholder``) that the ledger records (kind ``holder``), so ``gameday recover``
kills it, and the lock with it, even when the runner is gone.

Every argument is checked, and the table looked up, before anything is locked.
"""

from __future__ import annotations

import re
import time
from typing import Any

from gameday import holders
from gameday.errors import GamedayError
from gameday.lockholder import APPLICATION, DSN_ENV
from gameday.postgres import connect, dsn_for, wait_sessions_gone
from gameday.target import Target

__all__ = ["MAX_HOLD_S", "MODES", "LockError", "lock_table", "unlock_table"]

MODES = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE")
MAX_HOLD_S = 3600
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class LockError(GamedayError):
    """A lock was refused (bad input, a missing table) or could not be taken or released."""


def lock_table(
    target: Target,
    table: str = "orders",
    mode: str = "ACCESS EXCLUSIVE",
    hold_s: float = 120,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Lock ``<postgres_schema>.<table>`` in ``mode`` for at most ``hold_s`` seconds."""
    _check(table, mode, hold_s)
    dsn = dsn_for(target, secrets)
    schema = target.postgres_schema
    with connect(dsn, f"look up {schema}.{table}") as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()
    if found is None or found[0] is None:
        raise LockError(f"no table {schema}.{table} in the target's database: nothing to lock")
    held = holders.hold(
        target,
        _subject(target, table),
        "gameday.lockholder",
        {"schema": schema, "table": table, "mode": mode, "hold_s": hold_s},
        {DSN_ENV: dsn},
        note=f"LOCK TABLE {schema}.{table} IN {mode} MODE for at most {hold_s:g} s",
    )
    return {
        "table": f"{schema}.{table}",
        "mode": mode,
        "hold_s": hold_s,
        "holder_pid": held["pid"],
        "backend_pid": int(held["ready"][0]),
        "ledger_id": held["ledger_id"],
    }


def unlock_table(
    target: Target, table: str = "orders", secrets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Kill the holders of ``table``'s lock and wait until their sessions are gone."""
    _check(table, MODES[0], 1)
    released = holders.release(target, _subject(target, table))
    began = time.monotonic()
    if released["changed"]:
        wait_sessions_gone(dsn_for(target, secrets), APPLICATION, "the lock's session")
    return {**released, "seconds": round(time.monotonic() - began, 3)}


def _check(table: str, mode: str, hold_s: float) -> None:
    if not _IDENTIFIER.match(str(table)):
        raise LockError(f"table {table!r} must be a plain SQL identifier (letters, digits, _)")
    if mode not in MODES:
        raise LockError(f"mode {mode!r} is not a table lock mode: use one of {', '.join(MODES)}")
    if isinstance(hold_s, bool) or not isinstance(hold_s, int | float):
        raise LockError(f"hold_s must be a number of seconds, got {hold_s!r}")
    if not 0 < hold_s <= MAX_HOLD_S:
        raise LockError(f"hold_s {hold_s:g} is out of range: hold a lock 1-{MAX_HOLD_S} s")


def _subject(target: Target, table: str) -> str:
    return f"lock {target.postgres_schema}.{table}"
