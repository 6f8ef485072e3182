"""Redis through redis.asyncio, with socket timeouts and no hidden retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .errors import DependencyUnavailable
from .settings import UNBOUNDED_SECONDS, Settings
from .telemetry import REDIS_STATUS

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SUCCESS = REDIS_STATUS.labels(status="success")
_FAILURE = REDIS_STATUS.labels(status="failure")


class Cache:
    """The API's Redis client: each call answers within DEPENDENCY_TIMEOUT or raises a 503."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.dependency_timeout
        # The flaw: a circuit breaker with no half-open state opens on the first Redis error
        # and never closes: after one outage, no call reaches Redis until a restart.
        self._breaker = settings.flaw("redis-breaker-never-closes")
        self._open = False
        if settings.flaw("redis-reads-unbounded"):  # the flaw: redis-py's default, no bound
            self._timeout = UNBOUNDED_SECONDS
        self.client = Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            socket_timeout=self._timeout,
            socket_connect_timeout=settings.dependency_timeout,
            # One immediate retry on a dropped connection (a stale socket after a Redis
            # restart, a reset); timeouts are never retried, and asyncio.timeout bounds the
            # whole call. uvloop reports a write on a socket it closed after a reset as a
            # RuntimeError (redis-py disconnects the connection first): retried too.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError, RuntimeError)),
            health_check_interval=0,
        )

    async def mget(self, *keys: str) -> list[bytes | None]:
        return await self._call(self.client.mget(keys))

    async def get(self, key: str) -> bytes | None:
        return await self._call(self.client.get(key))

    async def ping(self) -> None:
        await self._call(self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, operation: Coroutine[Any, Any, T]) -> T:
        if self._open:
            operation.close()  # never awaited
            _FAILURE.inc()
            raise DependencyUnavailable("redis", "circuit open")
        try:
            async with asyncio.timeout(self._timeout):
                result = await operation
        except (RedisError, TimeoutError, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _transport_closed(exc):
                raise  # a bug, not Redis: let it show
            _FAILURE.inc()
            self._open = self._breaker
            reason = str(exc) or type(exc).__name__
            logger.warning("redis unavailable: %s", reason)
            raise DependencyUnavailable("redis", reason) from exc
        _SUCCESS.inc()
        return result


def _transport_closed(exc: RuntimeError) -> bool:
    """uvloop's error for a write on a transport it closed (the peer reset the connection):
    asyncio's own loop drops such a write and the read fails with a ConnectionError instead
    (MagicStack/uvloop#506)."""
    return "handler is closed" in str(exc)
