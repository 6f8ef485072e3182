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
from datetime import UTC, datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from psycopg import sql

from controls.adapter import engine_call
from gameday.postgres import connect, dsn_for
from probes.http import dashboard_staleness

__all__ = [
    "connections",
    "dashboard_staleness_stays_under",
    "inserts_per_second",
    "lock_waits",
    "lock_waits_stay_under",
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


def dashboard_staleness_stays_under(
    duration_s: float,
    aggregator_interval_s: float = 10,
    margin_s: float = 5,
    interval_s: float = 1,
    table: str = "orders",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Sample for ``duration_s`` how stale the dashboard is against PostgreSQL; raise when it
    was ever staler than ``aggregator_interval_s + margin_s``.

    Staleness: how long the oldest order committed in PostgreSQL but newer than the
    dashboard's newest order has existed (0 when the dashboard shows the newest order);
    only orders of the last hour count (the contract's ``recent_orders`` window).
    """
    _check_window(duration_s, interval_s)
    bound = aggregator_interval_s + margin_s
    table = _identifier("table", table)
    worst, most_behind, samples = 0.0, 0, 0
    deadline = time.monotonic() + duration_s
    with _database(configuration, secrets, f"compare the dashboard with {table}") as (
        conn,
        schema,
    ):
        missing = sql.SQL(STALENESS).format(sql.Identifier(schema, table))
        while True:
            shown = dashboard_staleness(configuration=configuration)[
                "newest_recent_order_timestamp"
            ]
            newest = (
                datetime.fromisoformat(shown).astimezone(UTC).replace(tzinfo=None)
                if shown
                else None
            )
            age, behind = conn.execute(missing, (newest,)).fetchone()
            samples += 1
            worst = max(worst, float(age or 0))
            most_behind = max(most_behind, behind)
            if time.monotonic() + interval_s > deadline:
                break
            time.sleep(interval_s)
    result = {
        "samples": samples,
        "duration_s": duration_s,
        "max_staleness_s": round(worst, 3),
        "max_orders_behind": most_behind,
        "bound_s": bound,
    }
    if worst > bound:
        raise ActivityFailed(
            f"expected the dashboard to lag PostgreSQL by at most {bound} s (aggregator interval "
            f"{aggregator_interval_s} s + {margin_s} s), an order waited {worst:.1f} s to appear "
            f"({most_behind} orders behind at worst)"
        )
    return result


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
