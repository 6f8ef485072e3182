"""Seeding: fill the orders table with realistic historical orders through COPY, and undo it.

A seed reserves a block of ids from the table's own sequence (an atomic
``ALTER SEQUENCE ... INCREMENT BY n`` + ``nextval``, so concurrent orders never
land inside the block), records a ledger entry (kind ``seed``), then COPYs the
rows and a marker row in ``coffee_chaos.seeds`` in one transaction. The seeded
rows are exactly the ids of the block: removing them restores the table (the
sequence stays advanced, as after any failed insert). A rerun with the same
name finds the marker and changes nothing.

Orders are spread over the complete hours of the last ``days`` days with a
café's daily rhythm (morning and lunch peaks), the contract's drinks with
their price ranges (cappuccino ordered most), and the four stores (downtown
busiest). Rows are sent sorted by time, so the timestamp index grows in order.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.postgres import DatabaseError, connect, dsn_for
from gameday.target import Target

__all__ = ["MAX_ROWS", "SeedError", "copy_chunks", "remove", "revert", "seed", "seeds"]

MAX_ROWS = 20_000_000
MAX_DAYS = 366
CHUNK_ROWS = 50_000
MARKER_SCHEMA = "coffee_chaos"
MARKER_TABLE = "seeds"
COLUMNS = ("id", "drink", "price", "store", "timestamp")  # the order of the COPY text
PRICES_CENTS = {"cappuccino": (450, 650), "americano": (300, 450), "latte": (400, 600)}
DRINK_WEIGHTS = {"cappuccino": 19, "latte": 16, "americano": 13}
STORE_WEIGHTS = {"uptown": 10, "downtown": 16, "central": 10, "southend": 10}
# Orders per UTC hour of the day: quiet nights, a morning rush, lunch, an afternoon bump.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 6, 14, 18, 12, 8, 9, 13, 12, 7, 6, 8, 9, 6, 4, 3, 2, 1, 1)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

MARKER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {schema}.{table} (
        name text PRIMARY KEY,
        target_table text NOT NULL,
        first_id bigint NOT NULL,
        last_id bigint NOT NULL,
        rows bigint NOT NULL,
        days integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
)


class SeedError(GamedayError):
    """Seeding was refused (bad input, missing table) or failed; nothing was left behind."""


def seed(
    target: Target,
    rows: int = 1_000_000,
    name: str = "default",
    days: int = 30,
    schema: str = "coffee_rt",
    table: str = "orders",
    analyze: bool = True,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert ``rows`` orders under the marker ``name``; a no-op when it already exists."""
    _check(rows, name, days, schema, table)
    dsn = _dsn(target, secrets)
    relation = f"{schema}.{table}"
    with _database(dsn, f"seed {relation}") as conn:
        sequence = _sequence(conn, schema, table)
        existing = _marker(conn, name)
        if existing:
            if existing["target_table"] != relation:
                raise SeedError(
                    f"seed {name!r} already holds {existing['rows']} rows of "
                    f"{existing['target_table']}: remove it first or choose another name"
                )
            return {**existing, "changed": False, "note": "already seeded: nothing inserted"}
        for statement in MARKER_DDL:
            conn.execute(_marker_sql(statement))
        first_id = _reserve(conn, sequence, rows)
        last_id = first_id + rows - 1
        entry_id = ledger_for(target).record(
            "seed",
            name,
            {"table": relation, "first_id": first_id, "last_id": last_id},
            note=f"{rows} seeded orders, ids {first_id}-{last_id} of {relation}",
        )
        began = time.perf_counter()
        try:
            _copy(conn, schema, table, name, first_id, rows, days)
        except BaseException:  # the COPY rolled back; even on Ctrl-C, leave nothing behind
            _forget(target, name, secrets)
            raise
        copy_s = time.perf_counter() - began
        if analyze:
            analyze_s = _timed(conn, sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    return {
        "name": name,
        "target_table": relation,
        "rows": rows,
        "first_id": first_id,
        "last_id": last_id,
        "days": days,
        "changed": True,
        "copy_s": round(copy_s, 3),
        "rows_per_s": round(rows / copy_s),
        "analyze_s": round(analyze_s, 3) if analyze else None,
        "ledger_id": entry_id,
    }


def remove(
    target: Target,
    name: str = "default",
    vacuum: bool = True,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delete exactly the rows of seed ``name`` and its marker; a no-op when there is none."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SeedError(f"seed name {name!r} must be 1-64 letters, digits, '-' or '_'")
    ledger = ledger_for(target)
    entries = [e for e in ledger.entries() if e["kind"] == "seed" and e["subject"] == name]
    with _database(_dsn(target, secrets), f"remove seed {name!r}") as conn:
        marker = _marker(conn, name)
        ranges = [
            (e["revert"]["table"], e["revert"]["first_id"], e["revert"]["last_id"]) for e in entries
        ]
        if marker:
            ranges.append((marker["target_table"], marker["first_id"], marker["last_id"]))
        removed, began = 0, time.perf_counter()
        with conn.transaction():
            for relation, first_id, last_id in dict.fromkeys(ranges):
                removed += conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id BETWEEN %s AND %s").format(
                        _relation(relation)
                    ),
                    (first_id, last_id),
                ).rowcount
            if marker:
                conn.execute(_marker_sql("DELETE FROM {schema}.{table} WHERE name = %s"), (name,))
        delete_s = time.perf_counter() - began
        vacuum_s = 0.0
        if vacuum and removed:
            for relation in {r for r, _, _ in ranges}:
                vacuum_s += _timed(conn, sql.SQL("VACUUM (ANALYZE) {}").format(_relation(relation)))
    for entry in entries:
        ledger.resolve(entry["id"])
    return {
        "name": name,
        "removed": removed,
        "changed": bool(removed or marker),
        "delete_s": round(delete_s, 3),
        "vacuum_s": round(vacuum_s, 3),
        "resolved": [e["id"] for e in entries],
    }


def seeds(target: Target, secrets: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every seed's marker (name, table, id range, rows, days, created_at)."""
    with _database(_dsn(target, secrets), "list seeds") as conn:
        if not _marker_exists(conn):
            return []
        rows = conn.execute(_marker_sql(f"SELECT {_MARKER_COLUMNS} FROM {{schema}}.{{table}}"))
        return [_marker_row(row) for row in rows.fetchall()]


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Revert a "seed" ledger entry (``gameday recover``): remove that seed's rows."""
    return remove(target, entry["subject"])


def copy_chunks(
    first_id: int, rows: int, days: int = 30, now: datetime | None = None, seed_value: int = 0
) -> Iterator[str]:
    """The COPY text of ``rows`` orders with ids from ``first_id``, in chunks, oldest first.

    Each complete hour gets its share of ``rows`` by the café's daily rhythm; the rows are
    generated hour by hour, so the first chunk is ready at once and the server works on
    it while the next ones are made.
    """
    rng = random.Random(seed_value)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    hours = int((now - start).total_seconds() // 3600)  # complete hours only
    counts = _shares(rows, [HOUR_WEIGHTS[(start.hour + h) % 24] for h in range(hours)])
    minutes = [f"{s // 60:02d}:{s % 60:02d}" for s in range(3600)]
    combos, combo_weights = _drink_prices()
    drink_weights = list(itertools.accumulate(combo_weights))
    stores, store_weights = list(STORE_WEIGHTS), list(itertools.accumulate(STORE_WEIGHTS.values()))
    random_, choices = rng.random, rng.choices
    order_id, pending, pending_rows = first_id, [], 0
    for hour, count in enumerate(counts):
        if not count:
            continue
        prefix = (start + timedelta(hours=hour)).strftime("%Y-%m-%d %H:")
        seconds = sorted([int(random_() * 3600) for _ in range(count)])
        pending.append(
            "".join(
                [
                    f"{i}\t{drink_price}\t{store}\t{prefix}{minutes[second]}\n"
                    for i, drink_price, store, second in zip(
                        range(order_id, order_id + count),
                        choices(combos, cum_weights=drink_weights, k=count),
                        choices(stores, cum_weights=store_weights, k=count),
                        seconds,
                        strict=True,
                    )
                ]
            )
        )
        order_id += count
        pending_rows += count
        if pending_rows >= CHUNK_ROWS:
            yield "".join(pending)
            pending, pending_rows = [], 0
    if pending:
        yield "".join(pending)


def _shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing exactly."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _copy(
    conn: Any, schema: str, table: str, name: str, first_id: int, rows: int, days: int
) -> None:
    """COPY the rows and insert the marker, in one transaction."""
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(copy) as writer:
            for chunk in copy_chunks(first_id, rows, days):
                writer.write(chunk)
        cursor.execute(
            _marker_sql(
                "INSERT INTO {schema}.{table} (name, target_table, first_id, last_id, rows, days) "
                "VALUES (%s, %s, %s, %s, %s, %s)"
            ),
            (name, f"{schema}.{table}", first_id, first_id + rows - 1, rows, days),
        )


def _forget(target: Target, name: str, secrets: dict[str, Any] | None) -> None:
    """After a failed COPY (rolled back): remove whatever may remain; if PostgreSQL is
    unreachable, the ledger entry stays for `gameday recover`."""
    try:
        remove(target, name, vacuum=False, secrets=secrets)
    except GamedayError:
        pass


def _drink_prices() -> tuple[list[str], list[float]]:
    """Every ``drink\\tprice`` pair, weighted so each drink keeps its share."""
    combos, weights = [], []
    for drink, (low, high) in PRICES_CENTS.items():
        share = DRINK_WEIGHTS[drink] / (high - low + 1)
        for cents in range(low, high + 1):
            combos.append(f"{drink}\t{cents // 100}.{cents % 100:02d}")
            weights.append(share)
    return combos, weights


_MARKER_COLUMNS = "name, target_table, first_id, last_id, rows, days, created_at"


def _marker_sql(statement: str) -> sql.Composed:
    return sql.SQL(statement).format(
        schema=sql.Identifier(MARKER_SCHEMA), table=sql.Identifier(MARKER_TABLE)
    )


def _marker_exists(conn: Any) -> bool:
    found = conn.execute("SELECT to_regclass(%s)", (f"{MARKER_SCHEMA}.{MARKER_TABLE}",))
    return found.fetchone()[0] is not None


def _marker(conn: Any, name: str) -> dict[str, Any] | None:
    if not _marker_exists(conn):
        return None
    row = conn.execute(
        _marker_sql(f"SELECT {_MARKER_COLUMNS} FROM {{schema}}.{{table}} WHERE name = %s"),
        (name,),
    ).fetchone()
    return _marker_row(row) if row else None


def _marker_row(row: tuple) -> dict[str, Any]:
    name, relation, first_id, last_id, rows, days, created_at = row
    return {
        "name": name,
        "target_table": relation,
        "first_id": first_id,
        "last_id": last_id,
        "rows": rows,
        "days": days,
        "created_at": created_at.isoformat(),
    }


def _sequence(conn: Any, schema: str, table: str) -> str:
    """The id sequence of ``schema.table``, checking the table has the contract's columns."""
    relation = f'"{schema}"."{table}"'
    if conn.execute("SELECT to_regclass(%s)", (relation,)).fetchone()[0] is None:
        raise SeedError(
            f"table {schema}.{table} does not exist: provision the target (its migration "
            "creates it) or fix the schema/table name; nothing was changed"
        )
    columns = {
        row[0]
        for row in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped",
            (relation,),
        ).fetchall()
    }
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise SeedError(
            f"table {schema}.{table} lacks the contract's column(s) {', '.join(missing)}: "
            "nothing was changed"
        )
    sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (relation,)).fetchone()[0]
    if not sequence:
        raise SeedError(
            f"{schema}.{table}.id has no sequence (the contract says `id serial`): nothing was "
            "changed"
        )
    return sequence


def _reserve(conn: Any, sequence: str, rows: int) -> int:
    """Take ``rows`` consecutive ids from ``sequence`` atomically; the first one.

    ALTER SEQUENCE blocks concurrent nextval() until commit, so no order takes an id
    inside the block; the lock lasts milliseconds.
    """
    name = sql.SQL(sequence)  # pg_get_serial_sequence quotes it as needed
    step = conn.execute(
        "SELECT seqincrement FROM pg_sequence WHERE seqrelid = %s::regclass", (sequence,)
    ).fetchone()[0]
    if step != 1:
        raise SeedError(f"sequence {sequence} increments by {step}, not 1: nothing was changed")
    with conn.transaction():
        conn.execute(sql.SQL("ALTER SEQUENCE {} INCREMENT BY {}").format(name, sql.Literal(rows)))
        called = conn.execute(sql.SQL("SELECT is_called FROM {}").format(name)).fetchone()[0]
        if not called:
            conn.execute("SELECT nextval(%s)", (sequence,))  # a fresh sequence's start value
        top = conn.execute("SELECT nextval(%s)", (sequence,)).fetchone()[0]
        conn.execute(sql.SQL("ALTER SEQUENCE {} INCREMENT BY 1").format(name))
    return top - rows + 1


def _relation(relation: str) -> sql.Identifier:
    schema, _, table = relation.partition(".")
    if not (_IDENTIFIER.match(schema) and _IDENTIFIER.match(table)):
        raise SeedError(f"seeded table {relation!r} is not schema.table")
    return sql.Identifier(schema, table)


def _timed(conn: Any, statement: sql.Composed) -> float:
    began = time.perf_counter()
    conn.execute(statement)
    return time.perf_counter() - began


def _check(rows: Any, name: Any, days: Any, schema: Any, table: Any) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise SeedError(
            f"rows must be a whole number from 1 to {MAX_ROWS:,}, got {rows!r}: nothing was changed"
        )
    if not isinstance(name, str) or not _NAME.match(name):
        raise SeedError(f"seed name {name!r} must be 1-64 letters, digits, '-' or '_'")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise SeedError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    for what, value in (("schema", schema), ("table", table)):
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise SeedError(f"{what} {value!r} is not a plain SQL identifier")


def _dsn(target: Target, secrets: dict[str, Any] | None) -> str:
    try:
        return dsn_for(target, secrets)
    except DatabaseError as exc:
        raise SeedError(str(exc)) from None


def _database(dsn: str, what: str) -> Any:
    return connect(dsn, what, "coffee-chaos-seed")
