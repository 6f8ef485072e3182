"""Revert a "seed" ledger entry through ``psql`` (standard library only).

The seeded block is exactly the ids the entry records: recovery deletes those
rows of the table and the seed's marker in ``coffee_chaos.seeds``, in one
transaction, with the machine's ``psql`` (no Python driver needed). The DSN
comes from the target's secrets file and reaches ``psql`` through its
environment (``PGPASSWORD``...), never its command line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from gameday.errors import GamedayError
from gameday.redact import Redactor, secret_values
from gameday.target import Target, TargetError, load_secrets

__all__ = ["SeedRevertError", "libpq_environment", "revert", "run_psql"]

PSQL_TIMEOUT_S = 600
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# libpq's connection parameters and the environment variables psql reads them from
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
}
SQL = """SELECT to_regclass('coffee_chaos.seeds') IS NOT NULL AS has_marker \\gset
BEGIN;
WITH gone AS (DELETE FROM :"schema".:"table" WHERE id BETWEEN :first AND :last RETURNING 1)
SELECT count(*) FROM gone;
\\if :has_marker
DELETE FROM coffee_chaos.seeds WHERE name = :'name' AND first_id = :first AND last_id = :last;
\\endif
COMMIT;
"""


class SeedRevertError(GamedayError):
    """The seeded block could not be deleted (psql missing, PostgreSQL unreachable)."""


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Delete the block of ids a "seed" entry records, and its marker; idempotent."""
    name, (schema, table, first, last) = entry.get("subject"), _block(entry)
    psql = shutil.which("psql")
    if not psql:
        raise SeedRevertError(
            f"cannot delete seed {name!r}: `psql` is not installed here "
            "(apt-get install postgresql-client), or run `gameday recover` from the venv"
        )
    try:
        dsn = load_secrets(target).get("postgres_dsn") or ""
    except TargetError as exc:
        raise SeedRevertError(f"cannot delete seed {name!r}: {exc}") from None
    variables = {"schema": schema, "table": table, "first": first, "last": last, "name": name}
    ok, out, cause = run_psql(psql, dsn, SQL, variables)
    if not ok:
        raise SeedRevertError(f"psql could not delete seed {name!r} ids {first}-{last}: {cause}")
    return {"name": name, "table": f"{schema}.{table}", "removed": int(out.split()[0])}


def run_psql(
    psql: str, dsn: str, sql: str, variables: dict[str, Any], timeout_s: float = PSQL_TIMEOUT_S
) -> tuple[bool, str, str]:
    """Run ``sql`` (its ``:variables`` set) with ``psql`` as ``dsn`` says, the credentials in
    its environment, never its command line: whether it succeeded, its output, and its error
    with the DSN's secrets masked."""
    command = [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for key, value in variables.items():
        command += ["-v", f"{key}={value}"]
    done = subprocess.run(
        command,
        input=sql,
        env={"PATH": "/usr/bin:/bin", **libpq_environment(dsn)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    cause = Redactor(secret_values([dsn])).text(done.stderr.strip())
    return done.returncode == 0, done.stdout, cause


def libpq_environment(dsn: str) -> dict[str, str]:
    """The PG* environment variables that make libpq connect as ``dsn`` says (a URL or
    ``key=value`` pairs)."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        params = {
            "host": parts.hostname or "",
            "port": str(parts.port or ""),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "dbname": unquote(parts.path.lstrip("/")),
            **dict(parse_qsl(parts.query)),
        }
    else:
        params = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
        params = {key: value.strip("'") for key, value in params.items()}
    unknown = sorted(set(params) - set(_LIBPQ_ENV))
    if unknown:
        raise SeedRevertError(
            f"the postgres_dsn credential has parameter(s) {', '.join(unknown)} that recovery "
            "cannot pass to psql: run `gameday recover` from the venv"
        )
    return {_LIBPQ_ENV[key]: value for key, value in params.items() if value}


def _block(entry: dict) -> tuple[str, str, int, int]:
    spec = entry.get("revert") or {}
    schema, _, table = str(spec.get("table", "")).partition(".")
    first, last = spec.get("first_id"), spec.get("last_id")
    sound = (
        _IDENTIFIER.match(schema)
        and _IDENTIFIER.match(table)
        and _NAME.match(str(entry.get("subject", "")))
        and all(isinstance(i, int) and not isinstance(i, bool) for i in (first, last))
    )
    if not sound:
        raise SeedRevertError(
            f"ledger entry {entry.get('id')} does not name a seeded block (schema.table, "
            f"first_id, last_id, a seed name): {spec!r}; delete the rows by hand"
        )
    return schema, table, first, last
