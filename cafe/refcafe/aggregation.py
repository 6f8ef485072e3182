"""One aggregation pass's SQL: GROUP BYs over an indexed time range, at most 50 rows fetched
(unless the aggregator-loads-every-order or table-locking-aggregation flaw is on)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from .cache_keys import iso_utc

HOURLY = """
SELECT drink, count(*), coalesce(sum(price), 0)
FROM {table} WHERE timestamp >= %(hour_start)s AND timestamp < %(hour_end)s
GROUP BY drink ORDER BY count(*) DESC, drink
"""
TOP5 = """
SELECT drink FROM {table} WHERE timestamp >= %(month_start)s
GROUP BY drink ORDER BY count(*) DESC, drink LIMIT 5
"""
RECENT = """
SELECT id, drink, store, price, timestamp FROM {table} WHERE timestamp >= %(recent_start)s
ORDER BY timestamp DESC, id DESC LIMIT 50
"""
# The aggregator-loads-every-order flaw's one statement, and the table-locking-aggregation
# flaw's lock.
EVERY_ORDER = """
SELECT id, drink, store, price, timestamp FROM {table} WHERE timestamp >= %(month_start)s
"""
LOCK = "LOCK TABLE {table} IN SHARE MODE"


@dataclass(frozen=True)
class Figures:
    """What a pass computed, ready to be written to Redis."""

    hour: int
    hourly: dict[str, Any]
    top5: list[str]
    recent: list[dict[str, Any]]


def queries(
    schema: str, table: str = "orders", texts: tuple[str, ...] = (HOURLY, TOP5, RECENT)
) -> tuple[sql.Composed, ...]:
    """The statements (default: the pass's three) against ``schema.table``."""
    target = sql.Identifier(schema, table)
    return tuple(sql.SQL(text).format(table=target) for text in texts)


def compute(
    connection: psycopg.Connection,
    schema: str,
    table: str = "orders",
    now: datetime | None = None,
    load_every_order: bool = False,
    locked_hold: Callable[[], None] | None = None,
) -> Figures:
    """Run the pass's queries in one read-only snapshot (REPEATABLE READ).

    Flaws: ``load_every_order`` fetches 30 days of orders and sums them in Python;
    ``locked_hold`` locks the table in SHARE mode and calls it before the commit.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    params = {
        "hour_start": hour_start,
        "hour_end": hour_start + timedelta(hours=1),
        "month_start": now - timedelta(days=30),
        "recent_start": now - timedelta(hours=1),
    }
    hourly_sql, top5_sql, recent_sql = queries(schema, table)
    lock_sql, every_order_sql = queries(schema, table, (LOCK, EVERY_ORDER))
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = locked_hold is None  # a SHARE lock needs a read-write transaction
    with connection.transaction(), connection.cursor() as cursor:
        if locked_hold is not None:
            cursor.execute(lock_sql)
        if load_every_order:
            hourly_rows, top5_rows, recent_rows = _in_python(
                cursor.execute(every_order_sql, params).fetchall(), params
            )
        else:
            hourly_rows = cursor.execute(hourly_sql, params).fetchall()
            top5_rows = cursor.execute(top5_sql, params).fetchall()
            recent_rows = cursor.execute(recent_sql, params).fetchall()
        if locked_hold is not None:
            locked_hold()
    return Figures(
        hour=hour_start.hour,
        hourly={
            "top_drinks": [drink for drink, _, _ in hourly_rows],
            "revenue": float(sum(revenue for _, _, revenue in hourly_rows)),
            "order_count": sum(count for _, count, _ in hourly_rows),
        },
        top5=[drink for (drink,) in top5_rows],
        recent=[
            {
                "id": id_,
                "drink": drink,
                "store": store,
                "price": float(price),
                "timestamp": iso_utc(timestamp),
            }
            for id_, drink, store, price, timestamp in recent_rows
        ],
    )


def _in_python(orders: list[tuple[Any, ...]], params: dict[str, datetime]) -> tuple[list, ...]:
    """The three queries' rows, computed in Python from every order of the last 30 days."""
    this_hour = [
        (drink, price)
        for _, drink, _, price, moment in orders
        if params["hour_start"] <= moment < params["hour_end"]
    ]
    counts = Counter(drink for drink, _ in this_hour)
    revenue: Counter[str] = Counter()
    for drink, price in this_hour:
        revenue[drink] += price
    by_count = sorted(counts, key=lambda drink: (-counts[drink], drink))
    month = Counter(drink for _, drink, _, _, _ in orders)
    recent = sorted(
        (order for order in orders if order[4] >= params["recent_start"]),
        key=lambda order: (order[4], order[0]),
        reverse=True,
    )
    return (
        [(drink, counts[drink], revenue[drink]) for drink in by_count],
        [(drink,) for drink in sorted(month, key=lambda drink: (-month[drink], drink))[:5]],
        recent[:50],
    )
