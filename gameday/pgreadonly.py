"""The target's database made read-only, as a failover to a replica looks to its clients:
``ALTER DATABASE <db> SET default_transaction_read_only = on``, then its client sessions
terminated so that they reconnect read-only.

Checked before anything changes: the DSN's role may alter the database (its owner or a
superuser), the database sets no ``default_transaction_read_only`` of its own (the revert
RESETs it), and ``psql`` is there to revert with. The ledger entry (kind ``read_only``: the
database, what to RESET) is written before the ALTER; ``restore`` and ``gameday recover``
revert it with ``gameday.readonlyrevert`` (standard library only).
"""

from __future__ import annotations

import shutil
from typing import Any

from psycopg import sql

from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.postgres import connect, dsn_for
from gameday.readonlyrevert import KIND, SETTING, TERMINATE, revert
from gameday.target import Target

__all__ = ["ReadOnlyError", "make_read_only", "restore"]

STATE = """
SELECT current_database(),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR pg_has_role(d.datdba, 'USAGE'),
       (SELECT string_agg(c, ', ') FROM pg_db_role_setting s, unnest(s.setconfig) c
        WHERE s.setdatabase = d.oid AND s.setrole = 0 AND c LIKE %s)
FROM pg_database d WHERE d.datname = current_database()
"""


class ReadOnlyError(GamedayError):
    """The database could not be made read-only (refused before anything changed)."""


def make_read_only(
    target: Target, terminate_sessions: bool = True, secrets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make the target's database read-only for new sessions; with ``terminate_sessions``,
    end its client sessions (the toolkit's spared) so that they reconnect read-only."""
    if not isinstance(terminate_sessions, bool):
        raise ReadOnlyError(f"terminate_sessions must be true or false, got {terminate_sessions!r}")
    if not shutil.which("psql"):
        raise ReadOnlyError(
            "psql is needed to revert the read-only database and is not installed here "
            "(apt-get install postgresql-client): nothing was changed"
        )
    dsn = dsn_for(target, secrets)
    with connect(dsn, "make the database read-only") as conn:
        database, may_alter, own = conn.execute(STATE, (f"{SETTING}=%",)).fetchone()
        if not may_alter:
            raise ReadOnlyError(
                f"the toolkit's role may not ALTER DATABASE {database} (only its owner or a "
                "superuser may): nothing was changed"
            )
        if own:
            raise ReadOnlyError(
                f"database {database} already sets {own}: the revert would RESET it; "
                "nothing was changed"
            )
        entry_id = ledger_for(target).record(
            KIND,
            f"database {database}",
            {"action": "reset", "database": database, "setting": SETTING},
            note=f"ALTER DATABASE {database} SET {SETTING} = on",
        )
        alter = sql.SQL("ALTER DATABASE {} SET {} = on").format(
            sql.Identifier(database), sql.Identifier(SETTING)
        )
        conn.execute(alter)
        terminated = conn.execute(TERMINATE).fetchone()[0] if terminate_sessions else 0
    return {
        "database": database,
        "read_only": True,
        "terminated": terminated,
        "ledger_id": entry_id,
    }


def restore(target: Target) -> dict[str, Any]:
    """RESET the setting and end the sessions opened read-only, for every read-only entry;
    none: nothing changes."""
    book = ledger_for(target)
    restored = []
    for entry in book.entries():
        if entry["kind"] == KIND:
            restored.append(revert(entry, target))
            book.resolve(entry["id"])
    return {"restored": restored, "changed": bool(restored)}
