"""Chaos Toolkit probes of the target's PostgreSQL: connections, lock waits, inserts, sizes.

They read PostgreSQL's own statistics (``pg_stat_activity``, ``pg_locks``,
``pg_relation_size``) and the contract's table ``<schema>.orders`` (the
configuration's ``postgres_schema``) with the ``postgres_dsn`` credential. The
DSN never appears in a result or an error.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from psycopg import sql

from controls.adapter import engine_call
from controls.evidence import not_available, unmet
from gameday.connholder import NO_SLOT
from gameday.postgres import DatabaseError, connect, dsn_for
from probes.http import dashboard

__all__ = [
    "connections",
    "dashboard_is_one_snapshot",
    "inserts_per_second",
    "lock_waits",
    "lock_waits_stay_under",
    "new_connections_refused",
    "table_size",
]
logger = logging.getLogger("chaostoolkit")

MAX_WINDOW_S = 3600
MIN_INTERVAL_S = 0.05
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

CONNECTIONS = """
SELECT coalesce(state, 'unknown'), coalesce(nullif(application_name, ''), 'unnamed'), count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2
"""
WAITS = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), 'unnamed'), l.locktype, l.mode,
       l.relation::regclass::text, extract(epoch FROM clock_timestamp() - l.waitstart)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database()
ORDER BY l.waitstart
"""
SIZES = """
SELECT pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
       c.reltuples::bigint,
       (SELECT json_object_agg(i.indexrelid::regclass::text, pg_relation_size(i.indexrelid))
        FROM pg_index i WHERE i.indrelid = c.oid)
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""
STALENESS = """
SELECT extract(epoch FROM (clock_timestamp() AT TIME ZONE 'UTC') - min(timestamp)), count(*)
FROM {} WHERE timestamp > greatest(%s, (clock_timestamp() AT TIME ZONE 'UTC') - interval '1 hour')
"""


def connections(
    application_name: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Client connections to the target's database by state and by application name.

    With ``application_name``, only that application's connections are counted
    (the reference café names its pool ``refcafe-api``; optional for other targets).
    Returns ``{"total", "by_state", "by_application", "max_connections"}``.
    """
    with _database(configuration, secrets, "read pg_stat_activity") as (conn, _):
        rows = conn.execute(CONNECTIONS).fetchall()
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
    by_state: dict[str, int] = {}
    by_application: dict[str, int] = {}
    for state, application, count in rows:
        if application_name is not None and application != application_name:
            continue
        by_state[state] = by_state.get(state, 0) + count
        by_application[application] = by_application.get(application, 0) + count
    return {
        "total": sum(by_state.values()),
        "by_state": dict(sorted(by_state.items())),
        "by_application": dict(sorted(by_application.items())),
        "max_connections": limit,
    }


def new_connections_refused(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """A new connection with the toolkit's credentials is refused for want of a slot: every
    free one is taken (``actions.postgres.exhaust_connections`` holds). Anything else, a
    connection made or another error, is unmet."""
    expected = "a new connection refused: every free slot taken"
    with engine_call("connect to PostgreSQL", configuration) as target:
        dsn = dsn_for(target, secrets)
    try:
        with connect(dsn, "open a new connection", "coffee-chaos-probe"):
            pass
    except DatabaseError as exc:
        if any(words in str(exc) for words in NO_SLOT):
            return {"refused": True, "error": str(exc)}
        raise ActivityFailed(unmet(expected, str(exc))) from None
    raise ActivityFailed(unmet(expected, "connected: a slot was free"))


def lock_waits(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Sessions waiting for a lock now: how many, the longest wait (s), and each wait."""
    with _database(configuration, secrets, "read pg_locks") as (conn, _):
        return _waits(conn)


def lock_waits_stay_under(
    duration_s: float,
    max_wait_s: float,
    max_waiting: int = 1000,
    interval_s: float = 0.1,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Sample lock waits every ``interval_s`` for ``duration_s``; raise when a session
    waited longer than ``max_wait_s`` or more than ``max_waiting`` waited at once.

    Returns ``{"samples", "longest_wait_s", "most_waiting", "samples_with_waits", "worst"}``.
    """
    _check_window(duration_s, interval_s)
    longest, most, with_waits, worst = 0.0, 0, 0, None
    samples = 0
    deadline = time.monotonic() + duration_s
    with _database(configuration, secrets, "sample pg_locks") as (conn, _):
        while True:
            facts = _waits(conn)
            samples += 1
            with_waits += bool(facts["waiting"])
            most = max(most, facts["waiting"])
            if facts["longest_wait_s"] > longest:
                longest, worst = facts["longest_wait_s"], facts["waits"][0]
            if time.monotonic() + interval_s > deadline:
                break
            time.sleep(interval_s)
    result = {
        "samples": samples,
        "duration_s": duration_s,
        "longest_wait_s": round(longest, 3),
        "most_waiting": most,
        "samples_with_waits": with_waits,
        "worst": worst,
    }
    if longest > max_wait_s or most > max_waiting:
        raise ActivityFailed(
            f"expected PostgreSQL lock waits under {max_wait_s} s with at most {max_waiting} "
            f"sessions waiting over {duration_s} s, saw a wait of {longest:.3f} s and "
            f"{most} waiting at once (worst: {worst})"
        )
    return result


def inserts_per_second(
    window_s: float = 10,
    table: str = "orders",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Rows committed into ``<schema>.<table>`` during the next ``window_s`` seconds, per second.

    Counts rows whose ``id`` is above the largest id at the start of the window
    (the contract's ``id serial``), so uncommitted and failed inserts do not count.
    """
    _check_window(window_s, MIN_INTERVAL_S)
    table = _identifier("table", table)
    with _database(configuration, secrets, f"count inserts into {table}") as (conn, schema):
        relation = sql.Identifier(schema, table)
        newest = sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(relation)
        since = sql.SQL("SELECT count(*) FROM {} WHERE id > %s").format(relation)
        first = conn.execute(newest).fetchone()[0]
        started = time.monotonic()
        time.sleep(window_s)
        inserted = conn.execute(since, (first,)).fetchone()[0]
        elapsed = time.monotonic() - started
    return {
        "table": table,
        "window_s": round(elapsed, 3),
        "inserted": inserted,
        "inserts_per_s": round(inserted / elapsed, 2),
    }


def table_size(
    table: str = "orders", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Bytes of ``<schema>.<table>`` (heap, indexes, total, each index) and its row estimate."""
    table = _identifier("table", table)
    with _database(configuration, secrets, f"measure table {table}") as (conn, schema):
        row = conn.execute(SIZES, (f'"{schema}"."{table}"',)).fetchone()
    if row is None:
        raise ActivityFailed(
            f"PostgreSQL: table {schema}.{table} does not exist: check `postgres_schema` "
            "in the configuration and the table name"
        )
    table_bytes, index_bytes, total_bytes, estimate, indexes = row
    return {
        "table": f"{schema}.{table}",
        "rows_estimate": max(int(estimate), 0),
        "table_bytes": table_bytes,
        "indexes_bytes": index_bytes,
        "total_bytes": total_bytes,
        "indexes": indexes or {},
    }


def dashboard_is_one_snapshot(
    max_apart: int = 5,
    table: str = "orders",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The dashboard's figures come from one aggregation pass: its current hour's
    ``order_count`` equals the orders PostgreSQL holds in that hour up to the newest order
    its ``recent_orders`` shows (within ``max_apart``: inserts in flight during the pass).

    A cache written key by key and cut mid-pass mixes two passes: the hour's count runs
    ahead of the recent orders by every order placed between them.
    """
    answer = dashboard(raise_on_unavailable=False, configuration=configuration)
    body = answer.get("body") if answer["status"] == 200 else None
    hourly = (body or {}).get("current_hour")
    recent = [o.get("id") for o in (body or {}).get("recent_orders") or [] if isinstance(o, dict)]
    if not isinstance(hourly, dict) or not recent or "server_timestamp" not in (body or {}):
        return not_available("a cache made of one pass", f"nothing to compare in {answer}")
    newest_id = max(i for i in recent if isinstance(i, int))
    hour_start = _hour_start(body["server_timestamp"], hourly.get("hour"))
    table = _identifier("table", table)
    with _database(configuration, secrets, "count the hour's orders") as (conn, schema):
        count_sql = sql.SQL(
            "SELECT count(*) FROM {} WHERE timestamp >= %s AND timestamp < %s + "
            "interval '1 hour' AND id <= %s"
        ).format(sql.Identifier(schema, table))
        (stored,) = conn.execute(count_sql, (hour_start, hour_start, newest_id)).fetchone()
    facts = {
        "hour_start": hour_start.isoformat(),
        "dashboard_order_count": hourly.get("order_count"),
        "stored_up_to_newest_recent": stored,
        "newest_recent_id": newest_id,
        "max_apart": max_apart,
    }
    count = hourly.get("order_count")
    if not isinstance(count, int) or abs(count - stored) > max_apart:
        raise ActivityFailed(
            unmet(
                f"the dashboard's hour count to match the {stored} orders stored up to its "
                f"newest recent order {newest_id} (one pass, within {max_apart})",
                f"order_count {count}: the cache mixes passes",
                figures=facts,
            )
        )
    return facts


def _hour_start(server_timestamp: str, hour: Any) -> datetime:
    """The start (naive UTC) of the latest hour ``hour`` at or before the server's time."""
    try:
        now = datetime.fromisoformat(str(server_timestamp).replace("Z", "+00:00"))
    except ValueError:
        raise ActivityFailed(f"server_timestamp {server_timestamp!r} is not ISO 8601") from None
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ActivityFailed(f"current_hour.hour {hour!r} is not an hour of the day")
    now = (now.astimezone(UTC) if now.tzinfo else now).replace(tzinfo=None)
    start = now.replace(minute=0, second=0, microsecond=0)
    while start.hour != hour:
        start -= timedelta(hours=1)
    return start


def _waits(conn: Any) -> dict[str, Any]:
    rows = conn.execute(WAITS).fetchall()
    waits = [
        {
            "pid": pid,
            "application": application,
            "locktype": locktype,
            "mode": mode,
            "relation": relation,
            "waited_s": round(float(waited or 0), 3),
        }
        for pid, application, locktype, mode, relation, waited in rows
    ]
    return {
        "waiting": len(waits),
        "longest_wait_s": max((w["waited_s"] for w in waits), default=0.0),
        "waits": waits,
    }


def _identifier(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ActivityFailed(
            f"{what} {name!r} is not a plain SQL identifier (letters, digits, underscores)"
        )
    return name


def _check_window(duration_s: float, interval_s: float) -> None:
    if not 0 < duration_s <= MAX_WINDOW_S or not MIN_INTERVAL_S <= interval_s <= duration_s:
        raise ActivityFailed(
            f"the window must be in (0, {MAX_WINDOW_S}] s and the interval in "
            f"[{MIN_INTERVAL_S}, window] s, got {duration_s!r} and {interval_s!r}"
        )


@contextmanager
def _database(
    configuration: Configuration, secrets: Secrets, what: str
) -> Iterator[tuple[Any, str]]:
    """A connection for ``what`` and the orders' schema; failures (credentials, network,
    SQL) are ActivityFailed."""
    with engine_call("query PostgreSQL", configuration) as target:
        with connect(dsn_for(target, secrets), what, "coffee-chaos-probe") as conn:
            yield conn, target.postgres_schema
