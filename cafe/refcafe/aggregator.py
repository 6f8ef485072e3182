"""The aggregator: ``python -m refcafe.aggregator``.

Every AGGREGATOR_INTERVAL seconds one pass computes the figures in SQL, then writes every
key in ONE MULTI/EXEC, so a pass that dies before writing leaves the previous values whole.
Outages are logged and retried with backoff; SIGTERM ends the process between steps.
The switchable flaws of the aggregator (refcafe.flaws) change its period, its writes
and its queries.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from .aggregation import Figures, compute
from .cache_keys import (
    HOURLY_TTL_SECONDS,
    LAST_SUCCESS_KEY,
    RECENT_KEY,
    RECENT_TTL_SECONDS,
    TOP5_KEY,
    hourly_key,
)
from .deadline import thread_deadline
from .settings import Settings, SettingsError

logger = logging.getLogger("refcafe.aggregator")
T = TypeVar("T")

PASS_DURATION = Histogram(
    "aggregator_pass_duration_seconds",
    "Time of one complete pass (compute and write).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LAST_SUCCESS = Gauge(
    "aggregator_last_success_timestamp_seconds", "Unix time of the last complete pass."
)
IN_PROGRESS = Gauge("aggregator_pass_in_progress", "1 while a pass computes, holds or writes.")
PASSES = Counter("aggregator_passes", "Passes by result.", ["result"])
for _result in ("success", "failure", "aborted"):
    PASSES.labels(result=_result)


class Stopped(Exception):
    """SIGTERM arrived: the pass is abandoned without writing."""


class Aggregator:
    """Holds the connections and runs passes until ``stop`` is set."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings = settings
        self.stop = stop
        self._connection: psycopg.Connection | None = None
        self.redis = Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            socket_timeout=settings.dependency_timeout,
            socket_connect_timeout=settings.dependency_timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )

    @property
    def period(self) -> float:
        """Seconds between passes (three intervals under the slow-aggregation flaw)."""
        slow = self.settings.flaw("slow-aggregation")
        return self.settings.aggregator_interval * (3 if slow else 1)

    def run_forever(self) -> None:
        while not self.stop.is_set():
            result = self.run_pass()
            if result == "failure" and self.settings.flaw("aggregator-stops-after-redis-error"):
                logger.error("the pass loop ends (flaw): no more passes until a restart")
                self.stop.wait()  # the flaw: the process lives on, silent
            self.stop.wait(self.period)

    def run_pass(self) -> str:
        """One pass; returns its result label (success, failure, aborted)."""
        started = time.perf_counter()
        IN_PROGRESS.set(1)
        try:
            figures = self._retrying("postgresql", self._compute)
            flaw = self.settings.flaw
            if not (flaw("table-locking-aggregation") or flaw("cache-written-key-by-key")):
                self._hold()  # (those flaws hold inside the lock, or between the writes)
            self._retrying("redis", lambda: self._write(figures))
        except Stopped:
            result = "aborted"
        except (psycopg.Error, RedisError, OSError) as exc:
            logger.error("pass failed, the previous values stay in Redis: %s", exc)
            result = "failure"
        else:
            result = "success"
            PASS_DURATION.observe(time.perf_counter() - started)
        finally:
            IN_PROGRESS.set(0)
        PASSES.labels(result=result).inc()
        return result

    def _compute(self) -> Figures:
        """The pass's queries: the server cancels them after AGGREGATOR_INTERVAL, and if it
        cannot answer even that (a stalled network), the socket is shut down
        DEPENDENCY_TIMEOUT later, so a pass never hangs."""
        statement_timeout = self.settings.aggregator_interval
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self.settings.postgres_conninfo("refcafe-aggregator"),
                autocommit=True,
                options=f"-c statement_timeout={int(statement_timeout * 1000)}",
            )
        connection = self._connection
        bound = statement_timeout + self.settings.dependency_timeout
        flaw = self.settings.flaw
        try:
            with thread_deadline(connection, bound) as deadline:
                try:
                    return compute(
                        connection,
                        self.settings.postgres_schema,
                        load_every_order=flaw("aggregator-loads-every-order"),
                        locked_hold=self._hold if flaw("table-locking-aggregation") else None,
                    )
                except psycopg.OperationalError as exc:
                    if deadline.expired:
                        raise psycopg.OperationalError(str(deadline.timeout_error())) from exc
                    raise
        except psycopg.Error:
            connection.close()
            raise

    def _hold(self) -> None:
        """The lab's pause within a pass (AGGREGATOR_HOLD_SECONDS); SIGTERM aborts it."""
        if self.settings.aggregator_hold_seconds and self.stop.wait(
            self.settings.aggregator_hold_seconds
        ):
            raise Stopped

    def _write(self, figures: Figures) -> None:
        now = time.time()
        flaw = self.settings.flaw
        hourly_ttl, top5_ttl, recent_ttl = HOURLY_TTL_SECONDS, None, RECENT_TTL_SECONDS
        if flaw("short-cache-ttl"):
            hourly_ttl = top5_ttl = recent_ttl = max(
                1, round(2 * self.settings.aggregator_interval)
            )
        writes = [
            (hourly_key(figures.hour), json.dumps(figures.hourly), hourly_ttl),
            (TOP5_KEY, json.dumps(figures.top5), top5_ttl),
            (RECENT_KEY, json.dumps(figures.recent), recent_ttl),
            (LAST_SUCCESS_KEY, repr(now), None),
        ]
        if flaw("cache-cleared-before-write"):  # the flaw: a DEL is allowed in a full Redis
            self.redis.delete(*(key for key, _, _ in writes))
        if flaw("cache-written-key-by-key"):
            for index, (key, value, ttl) in enumerate(writes):
                if index == 2:  # after the hourly and top5 keys
                    self._hold()
                self.redis.set(key, value, ex=ttl)
        else:
            with self.redis.pipeline(transaction=True) as pipe:
                for key, value, ttl in writes:
                    pipe.set(key, value, ex=ttl)
                pipe.execute()
        LAST_SUCCESS.set(now)
        logger.info(
            "pass written: hour %d, %d orders, %d recent",
            figures.hour,
            figures.hourly["order_count"],
            len(figures.recent),
        )

    def _retrying(self, dependency: str, step: Callable[[], T]) -> T:
        delay = self.settings.connection_initial_backoff
        attempt = 1
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                return step()
            except (psycopg.OperationalError, RedisError, OSError) as exc:
                if attempt > self.settings.connection_max_retries:
                    raise
                logger.warning(
                    "%s failed (attempt %d), retrying in %.1fs: %s", dependency, attempt, delay, exc
                )
                if self.stop.wait(delay):
                    raise Stopped from exc
                delay *= 2
                attempt += 1

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.redis.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"refcafe.aggregator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    start_http_server(settings.aggregator_metrics_port, addr=settings.aggregator_metrics_host)
    aggregator = Aggregator(settings, stop)
    logger.info("aggregating every %ss", aggregator.period)
    try:
        aggregator.run_forever()
    finally:
        aggregator.close()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
