"""PostgreSQL connections for the toolkit, with credentials that never leak.

The DSN comes from ``gameday.target.load_secrets`` only; psycopg's errors may
quote it (or its password), so every message that leaves this module is
sanitised first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from gameday.errors import GamedayError
from gameday.target import Target, TargetError, load_secrets

__all__ = ["DatabaseError", "connect", "dsn_for", "sanitise", "wait_sessions_gone"]

CONNECT_TIMEOUT_S = 5
GONE_TIMEOUT_S = 10
_PASSWORD_IN_URL = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
_PASSWORD_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


class DatabaseError(GamedayError):
    """PostgreSQL could not be reached or refused a statement (message sanitised)."""


def dsn_for(target: Target, secrets: dict[str, Any] | None = None) -> str:
    """The ``postgres_dsn`` credential of ``target``; DatabaseError when there is none."""
    try:
        dsn = load_secrets(target, secrets).get("postgres_dsn")
    except TargetError as exc:
        raise DatabaseError(str(exc)) from None
    if not dsn:
        raise DatabaseError(
            "no postgres_dsn credential: add it to the experiment's `coffee` secrets scope "
            f"or to {target.secrets_file}"
        )
    return dsn


def sanitise(message: str, dsn: str) -> str:
    """``message`` without the DSN, its password, or any password-looking part."""
    secrets = [dsn]
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        secrets.append(str(password))
    for secret in secrets:
        message = message.replace(secret, "***")
    message = _PASSWORD_IN_URL.sub(r"\1***@", message)
    return _PASSWORD_KEYWORD.sub(r"\1***", message).strip()


@contextmanager
def connect(
    dsn: str, what: str, application_name: str = "coffee-chaos", autocommit: bool = True
) -> Iterator[psycopg.Connection]:
    """A connection for ``what`` (named in errors); psycopg errors become DatabaseError."""
    try:
        with psycopg.connect(
            dsn,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=autocommit,
            application_name=application_name,
        ) as conn:
            yield conn
    except psycopg.Error as exc:
        cause = sanitise(str(exc), dsn) or type(exc).__name__
        raise DatabaseError(f"PostgreSQL: cannot {what}: {cause}") from None


def wait_sessions_gone(dsn: str, application_name: str, what: str) -> None:
    """Wait until the server saw every session of ``application_name`` end (a holder killed:
    its sessions end as the server notices), connecting again while the server may still be
    short of connection slots; DatabaseError naming ``what`` after GONE_TIMEOUT_S."""
    query = sql.SQL("SELECT count(*) FROM pg_stat_activity WHERE application_name = {}").format(
        sql.Literal(application_name)
    )
    deadline = time.monotonic() + GONE_TIMEOUT_S
    seen = "no answer"
    while time.monotonic() < deadline:
        try:
            with connect(dsn, f"wait for {what} to end") as conn:
                sessions = conn.execute(query).fetchone()[0]
            if not sessions:
                return
            seen = f"{sessions} session(s) still open"
        except DatabaseError as exc:
            seen = str(exc)
        time.sleep(0.1)
    raise DatabaseError(f"{what} outlived its holder by {GONE_TIMEOUT_S} s: {seen}")
