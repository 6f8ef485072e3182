"""A café whose capacity is known by construction, for the capacity search's test and benchmark.

The reference café as a side café (its own Redis, schema ``coffee_limit``, fault proxy: the
lab's café is not touched) with a database pool of ``pool`` connections whose every answer
from PostgreSQL is held ``delay_ms`` by a latency toxic. An order is one round trip (an
autocommit ``INSERT ... RETURNING``) holding one connection, so the café commits at most
``pool / delay`` orders/s: 25 connections x 100 ms = 250 orders/s (a little less: the
statement, the proxy and the two event loops add a few milliseconds to the delay).

Past that, orders wait for a connection (up to the pool's 1 s timeout, then 503): a search
whose P99 threshold sits well above the delay finds the limit itself; with a threshold near
the delay, random arrivals queue past it earlier (the capacity for that threshold).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cafe_helpers import PrivateFaultProxy, SideCafe, connect_db, migrate

LIMIT_SCHEMA = "coffee_limit"


@dataclass(frozen=True)
class KnownLimit:
    url: str
    orders_per_s: float  # pool / delay


@contextlib.contextmanager
def known_limit_cafe(
    log_dir: Path, pool: int = 25, delay_ms: int = 100, flaws: str = ""
) -> Iterator[KnownLimit]:
    """The café (with ``flaws``, CAFE_FLAWS, if given), started and ready; stopped, its schema
    dropped, on the way out."""
    migrate(LIMIT_SCHEMA)
    proxy = PrivateFaultProxy(log_dir)
    cafe = None
    try:
        sizes = {"DB_POOL_MIN_SIZE": str(pool), "DB_POOL_MAX_SIZE": str(pool)}
        cafe = SideCafe(proxy, log_dir, "limited", flaws, POSTGRES_SCHEMA=LIMIT_SCHEMA, **sizes)
        proxy.delay("limited-postgresql", delay_ms)
        cafe.start_api()
        yield KnownLimit(cafe.url, pool / (delay_ms / 1000))
    finally:
        if cafe is not None:
            cafe.close()
        proxy.close()
        with connect_db() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {LIMIT_SCHEMA} CASCADE")
