"""Bound a PostgreSQL call in time by shutting its socket down when the deadline passes.

Cancelling a psycopg call mid-statement (``asyncio.timeout``, a signal) makes psycopg send a
cancel request over a NEW connection and then wait for the server, up to 5 s + 5 s: while the
network to PostgreSQL stalls, the caller hangs ~10 s. Shutting the socket down instead wakes
the pending read at once with an ``OperationalError``, and the broken connection is discarded
(a pool replaces it). The server rolls back whatever it had not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import psycopg


class Deadline:
    """Shuts ``conn`` down on ``expire`` unless the guarded block has finished first."""

    def __init__(self, conn: psycopg.BaseConnection[object], seconds: float) -> None:
        self.conn = conn
        self.seconds = seconds
        self.expired = False
        self._finished = False
        self._lock = threading.Lock()

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            shut_down(self.conn)

    def finish(self) -> None:
        with self._lock:
            self._finished = True

    def timeout_error(self) -> TimeoutError:
        return TimeoutError(f"postgresql did not answer within {self.seconds:g}s")


def shut_down(conn: psycopg.BaseConnection[object]) -> None:
    """Shut the connection's socket down both ways (its descriptor stays psycopg's to close)."""
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:  # already closed
        return
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def loop_deadline(conn: psycopg.AsyncConnection[object], seconds: float) -> Iterator[Deadline]:
    """For coroutines: the event loop shuts ``conn`` down after ``seconds``."""
    deadline = Deadline(conn, seconds)
    handle = asyncio.get_running_loop().call_later(seconds, deadline.expire)
    try:
        yield deadline
    finally:
        deadline.finish()
        handle.cancel()


@contextlib.contextmanager
def thread_deadline(conn: psycopg.Connection[object], seconds: float) -> Iterator[Deadline]:
    """For blocking code: a timer thread shuts ``conn`` down after ``seconds``."""
    deadline = Deadline(conn, seconds)
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        yield deadline
    finally:
        deadline.finish()
        timer.cancel()
