"""One aggregation pass's SQL: GROUP BYs over an indexed time range, at most 50 rows fetched."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Figures:
    """What a pass computed, ready to be written to Redis."""

    hour: int
    hourly: dict[str, Any]
    top5: list[str]
    recent: list[dict[str, Any]]


def queries(schema: str, table: str = "orders") -> tuple[sql.Composed, ...]:
    """The three statements against ``schema.table``."""
    target = sql.Identifier(schema, table)
    return tuple(sql.SQL(text).format(table=target) for text in (HOURLY, TOP5, RECENT))


def compute(
    connection: psycopg.Connection, schema: str, table: str = "orders", now: datetime | None = None
) -> Figures:
    """Run the pass's queries in one read-only snapshot (REPEATABLE READ)."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    params = {
        "hour_start": hour_start,
        "hour_end": hour_start + timedelta(hours=1),
        "month_start": now - timedelta(days=30),
        "recent_start": now - timedelta(hours=1),
    }
    hourly_sql, top5_sql, recent_sql = queries(schema, table)
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    with connection.transaction(), connection.cursor() as cursor:
        hourly_rows = cursor.execute(hourly_sql, params).fetchall()
        top5_rows = cursor.execute(top5_sql, params).fetchall()
        recent_rows = cursor.execute(recent_sql, params).fetchall()
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
