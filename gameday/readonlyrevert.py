"""Revert a "read_only" ledger entry through ``psql`` (standard library only).

``ALTER DATABASE <database> RESET default_transaction_read_only``, then every client
session of the database that the DSN's role may signal is terminated (but the toolkit's
own), so that the sessions opened while it was read-only reconnect writable. The DSN reaches
``psql`` through its environment (``gameday.seedrevert.run_psql``), never its
command line. ``gameday.pgreadonly`` injects the fault and reverts it with this too.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from gameday.errors import GamedayError
from gameday.seedrevert import run_psql
from gameday.target import Target, TargetError, load_secrets

__all__ = ["KIND", "SETTING", "TERMINATE", "ReadOnlyRevertError", "revert"]

KIND = "read_only"
SETTING = "default_transaction_read_only"
PSQL_TIMEOUT_S = 60
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
# Every client session of this database the role may end, but this one and the toolkit's.
TERMINATE = """
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND pg_has_role(usesysid, 'USAGE')
  AND application_name NOT LIKE 'coffee-chaos%'
"""
# This session too opens read-only while the database is: it must say it writes.
SQL = f"""SET {SETTING} = off;
ALTER DATABASE :"database" RESET {SETTING};
{TERMINATE};
"""


class ReadOnlyRevertError(GamedayError):
    """The database could not be made writable again (psql missing, PostgreSQL unreachable)."""


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """RESET the setting on the entry's database and end its sessions; idempotent."""
    database = (entry.get("revert") or {}).get("database")
    if not isinstance(database, str) or not _IDENTIFIER.match(database):
        raise ReadOnlyRevertError(
            f"ledger entry {entry.get('id')} names no database ({database!r}): run "
            f"ALTER DATABASE <database> RESET {SETTING} by hand"
        )
    psql = shutil.which("psql")
    if not psql:
        raise ReadOnlyRevertError(
            f"cannot reset {SETTING} on {database}: `psql` is not installed here "
            "(apt-get install postgresql-client)"
        )
    try:
        dsn = load_secrets(target).get("postgres_dsn") or ""
    except TargetError as exc:
        raise ReadOnlyRevertError(f"cannot reset {SETTING} on {database}: {exc}") from None
    ok, out, cause = run_psql(psql, dsn, SQL, {"database": database}, PSQL_TIMEOUT_S)
    if not ok:
        raise ReadOnlyRevertError(f"psql could not reset {SETTING} on {database}: {cause}")
    return {"database": database, "reset": SETTING, "terminated": int(out.split()[-1])}
