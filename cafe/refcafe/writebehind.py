"""The orders-written-behind flaw: an order is acknowledged once its id is drawn from the
sequence, and written with the others of the last second by a background task; a crash
loses what was acknowledged but not yet written."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg import sql

from .db import Database
from .errors import DependencyUnavailable

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
NEXT_ID = "SELECT nextval(pg_get_serial_sequence({table}, 'id'))"
INSERT = "INSERT INTO {schema}.orders (id, drink, store, price, timestamp) VALUES (%s, %s, %s, %s, %s) RETURNING id"


class WriteBehind:
    """Orders queued after their id is drawn, written every ``FLUSH_SECONDS``."""

    def __init__(self, db: Database, schema: str) -> None:
        self._db = db
        self._next_id = sql.SQL(NEXT_ID).format(table=sql.Literal(f"{schema}.orders"))
        self._insert = sql.SQL(INSERT).format(schema=sql.Identifier(schema))
        self._queue: list[tuple[Any, ...]] = []

    async def add(self, values: tuple[Any, ...]) -> int:
        """Draw the order's id and queue it; the caller acknowledges it at once."""
        (order_id,) = await self._db.fetchone(self._next_id)
        self._queue.append((order_id, *values))
        return order_id

    async def run(self) -> None:
        """Write the queue every ``FLUSH_SECONDS`` until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            queued, self._queue = self._queue, []
            for row in queued:
                try:
                    await self._db.fetchone(self._insert, row)
                except DependencyUnavailable as exc:
                    logger.warning("order %s not written: %s", row[0], exc)
