"""PostgreSQL through a psycopg 3 async pool, with bounded waits and 503-ready errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .deadline import loop_deadline
from .errors import DependencyUnavailable
from .settings import UNBOUNDED_SECONDS, Settings
from .telemetry import DB_STATUS

logger = logging.getLogger(__name__)

# Seconds a failing connection attempt keeps retrying before the pool gives it up. Kept short
# so that, once PostgreSQL is back, the next request triggers a fresh attempt at once instead
# of waiting out the pool's exponential backoff.
RECONNECT_TIMEOUT = 2.0
# What clients are told when the database takes no writes (a replica after a failover).
READ_ONLY = "database read-only"
# Every statement committed on return, and never prepared on the server: psycopg prepares a
# statement on a connection's sixth use of it, one more round trip to PostgreSQL then, which
# made one order in fifty twice as slow behind a slow network (a P99 that flips between one
# and two round trips in a short window).
CONNECTION_OPTIONS = {"autocommit": True, "prepare_threshold": None}

_SUCCESS = DB_STATUS.labels(status="success")
_FAILURE = DB_STATUS.labels(status="failure")


class BoundedCheckPool(AsyncConnectionPool):
    """A pool whose ``check()`` gives each idle connection ``check_timeout`` s to answer."""

    def __init__(self, check_timeout: float, *args: Any, **kwargs: Any) -> None:
        self.check_timeout = check_timeout
        super().__init__(*args, **kwargs)

    async def check_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:  # type: ignore[override]
        with loop_deadline(conn, self.check_timeout) as deadline:
            try:
                await super().check_connection(conn)
            except psycopg.OperationalError as exc:
                if deadline.expired:
                    raise deadline.timeout_error() from exc
                raise


class OneConnection:
    """The no-reconnect flaw: one connection, opened on first use and kept even once broken."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()

    async def open(self, wait: bool = False) -> None:
        """Nothing to do: the connection opens on first use."""

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._connecting:
            if self._conn is None:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, **CONNECTION_OPTIONS
                )
        yield self._conn

    async def check(self) -> None:
        """The flaw itself: a broken connection is never looked at, nor replaced."""

    async def close(self, timeout: float) -> None:
        if self._conn is not None:
            await self._conn.close()

    def get_stats(self) -> dict[str, int]:
        size = int(self._conn is not None and not self._conn.closed)
        return {"pool_size": size, "pool_available": size}


class ConnectionPerRequest:
    """The connection-per-request flaw: no pool, a connection opened for each statement and
    closed after it (it works until the server has no slot left to give)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo

    async def open(self, wait: bool = False) -> None:
        """Nothing to do: each statement connects."""

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await psycopg.AsyncConnection.connect(self._conninfo, **CONNECTION_OPTIONS)
        try:
            yield conn
        finally:
            await conn.close()

    async def check(self) -> None:
        """Nothing kept, nothing to check."""

    async def close(self, timeout: float) -> None:
        """Nothing kept, nothing to close."""

    def get_stats(self) -> dict[str, int]:
        return {"pool_size": 0, "pool_available": 0}


class Database:
    """The API's connection pool; it opens even while PostgreSQL is down and heals itself."""

    def __init__(self, settings: Settings) -> None:
        self.schema = settings.postgres_schema
        self._op_timeout = settings.dependency_timeout
        if settings.flaw("postgres-statements-unbounded"):  # the flaw: psycopg's default
            self._op_timeout = UNBOUNDED_SECONDS
        self._purge: asyncio.Task[None] | None = None
        conninfo = settings.postgres_conninfo("refcafe-api")
        if not settings.flaw("no-server-statement-timeout"):
            # The server gives up when we do: a statement we answered 503 for (stuck behind a
            # lock, say) must not run on, and commit, once we are gone.
            timeout_ms = int(self._op_timeout * 1000)
            conninfo = make_conninfo(conninfo, options=f"-c statement_timeout={timeout_ms}")
        self.pool: BoundedCheckPool | OneConnection | ConnectionPerRequest
        if settings.flaw("no-reconnect"):
            self.pool = OneConnection(conninfo)
        elif settings.flaw("connection-per-request"):
            self.pool = ConnectionPerRequest(conninfo)
        else:
            self.pool = BoundedCheckPool(
                self._op_timeout,
                conninfo,
                min_size=settings.db_pool_min_size,
                max_size=settings.db_pool_max_size,
                timeout=settings.db_pool_timeout,
                reconnect_timeout=RECONNECT_TIMEOUT,
                reconnect_failed=_log_reconnect_failed,
                kwargs=CONNECTION_OPTIONS,
                name="refcafe",
                open=False,
            )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2.0)

    async def fetchone(self, query: Any, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """Run one statement (committed on return: autocommit) and return its first row.

        A statement without an answer after DEPENDENCY_TIMEOUT has its connection shut down
        (see deadline.py: never cancelled, which would hang on a stalled network).
        """
        try:
            async with self.pool.connection() as conn:
                with loop_deadline(conn, self._op_timeout) as deadline:
                    try:
                        cursor = await conn.execute(query, params)
                        row = await cursor.fetchone()
                    except psycopg.OperationalError as exc:
                        if deadline.expired:
                            raise deadline.timeout_error() from exc
                        raise
        except (psycopg.Error, TimeoutError, OSError) as exc:
            _FAILURE.inc()
            reason = str(exc) or type(exc).__name__
            logger.warning("postgresql unavailable: %s", reason)
            if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, PoolTimeout):
                self._purge_stale_connections()
            read_only = isinstance(exc, psycopg.errors.ReadOnlySqlTransaction)
            raise DependencyUnavailable(
                "postgresql", reason, READ_ONLY if read_only else None
            ) from exc
        _SUCCESS.inc()
        if row is None:
            raise DependencyUnavailable("postgresql", "statement returned no row")
        return row

    async def check_writable(self) -> None:
        """Raise DependencyUnavailable unless a new transaction may write: a replica, or a
        database set read-only (a failover's doing), answers but takes no order."""
        (read_only,) = await self.fetchone("SELECT current_setting('transaction_read_only')")
        if read_only == "on":
            raise DependencyUnavailable(
                "postgresql",
                "read-only: transaction_read_only is on, orders cannot be written",
                READ_ONLY,
            )

    def _purge_stale_connections(self) -> None:
        """A connection broke: test the idle ones in the background and replace the dead."""
        if self._purge is None or self._purge.done():
            self._purge = asyncio.create_task(self._check_pool())

    async def _check_pool(self) -> None:
        try:
            await self.pool.check()
        except Exception as exc:  # a background check only logs
            logger.warning("pool check failed: %s", exc)

    def stats(self) -> dict[str, int]:
        return self.pool.get_stats()


def _log_reconnect_failed(pool: AsyncConnectionPool) -> None:
    logger.warning("pool %s could not reconnect to postgresql; retrying on demand", pool.name)
