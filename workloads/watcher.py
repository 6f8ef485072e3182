"""DashboardWatcher: holds a WebSocket on /ws/dashboard and reports what it receives.

Custom requests (request type ``WS``), so they land in Locust's statistics,
the live file and the load metrics like HTTP requests:

- ``/ws/dashboard push``: one per push; response time = lag, the receive time
  minus the push's ``server_timestamp`` (ms);
- ``/ws/dashboard jitter``: one per periodic push after the first, response
  time = |interval between pushes - ``$COFFEE_DASHBOARD_INTERVAL_S``| (ms);
- ``WS connect``: each attempt to open the socket (a failure when refused,
  timed out or answered with another HTTP status, e.g. 503);
- ``WS reconnect``: after a disconnect, the time until the socket is open
  again (retried with exponential backoff, 0.5 s doubling up to 10 s).

websocket-client runs cooperatively: Locust has monkey-patched sockets with
gevent, so one process holds a thousand watchers.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import datetime
from typing import Any

import env
import websocket
from locust import User, constant, task

WS_PATH = "/ws/dashboard"
CONNECT_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


class _Handshake:
    """What a failed handshake answered, for the status code of the failure."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def lag_ms(received_at: float, push: str) -> float:
    """Receive time minus the push's ``server_timestamp`` (ms); ValueError if it has none."""
    try:
        stamp = json.loads(push)["server_timestamp"]
        sent_at = datetime.fromisoformat(stamp).timestamp()
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"push without a readable server_timestamp ({exc!r})") from None
    return max(0.0, (received_at - sent_at) * 1000)


def backoff_s(attempt: int) -> float:
    """Wait before reconnect attempt ``attempt`` (1, 2, ...): doubling, capped, 0-20 % jitter."""
    base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 1))
    return base * (1 + random.uniform(0, 0.2))


class DashboardWatcher(User):
    """Watches the dashboard's WebSocket pushes; reconnects after a disconnect."""

    wait_time = constant(0)
    interval_s = float(os.environ.get(env.DASHBOARD_INTERVAL_S) or 10)

    def on_start(self) -> None:
        self.url = self.host.replace("http", "ws", 1).rstrip("/") + WS_PATH
        self.socket: websocket.WebSocket | None = None
        self.dropped_at: float | None = None
        self.attempt = 0
        self.periodic_at: float | None = None
        self.pushes = 0

    def on_stop(self) -> None:
        self._close()

    @task
    def watch(self) -> None:
        """Open the socket if it is closed, else wait for the next push."""
        if self.socket is None:
            self._connect()
        else:
            self._receive()

    def _connect(self) -> None:
        if self.attempt:
            time.sleep(backoff_s(self.attempt))
        self.attempt += 1
        started = time.perf_counter()
        try:
            # websocket-client's own UTF-8 check is pure Python (0.66 ms for a 6 KB push):
            # a thousand watchers spent 95 % of the process in it and read their pushes
            # late, so the lag measured was the watcher's. recv() still decodes the text as
            # UTF-8 (in C): a push that is not valid UTF-8 still ends the socket, as before.
            self.socket = websocket.create_connection(
                self.url, timeout=CONNECT_TIMEOUT_S, skip_utf8_validation=True
            )
        except Exception as exc:  # noqa: BLE001 - every cause is a failed connect, reported
            status = getattr(exc, "status_code", 0) or 0
            self._fire("WS connect", started, exc, response=_Handshake(status))
            return
        self.socket.settimeout(None)
        self._fire("WS connect", started)
        if self.dropped_at is not None:
            self._fire("WS reconnect", self.dropped_at)
        self.dropped_at, self.attempt, self.pushes, self.periodic_at = None, 0, 0, None

    def _receive(self) -> None:
        try:
            push = self.socket.recv()
        except Exception:  # noqa: BLE001 - reset, or the API died
            push = ""
        if not push:  # "" is what recv() gives for the server's close frame
            self._close()
            self.dropped_at = time.perf_counter()
            return
        received = time.time()
        self.pushes += 1
        try:
            lag = lag_ms(received, push)
        except ValueError as exc:
            self._fire("/ws/dashboard push", time.perf_counter(), exc, length=len(push))
            return
        self._fire_ms("/ws/dashboard push", lag, None, length=len(push))
        if self.pushes >= 2:  # the first push comes on connect, off the periodic beat
            if self.periodic_at is not None:
                jitter = abs(received - self.periodic_at - self.interval_s) * 1000
                self._fire_ms("/ws/dashboard jitter", jitter, None)
            self.periodic_at = received

    def _close(self) -> None:
        if self.socket is not None:
            try:
                self.socket.close(timeout=1)
            except Exception:  # noqa: BLE001, S110 - closing a socket that is already gone
                pass
            self.socket = None

    def _fire(
        self,
        name: str,
        since: float,
        exception: Exception | None = None,
        response: Any = None,
        length: int = 0,
    ) -> None:
        elapsed_ms = (time.perf_counter() - since) * 1000
        self._fire_ms(name, elapsed_ms, exception, response, length)

    def _fire_ms(
        self,
        name: str,
        ms: float,
        exception: Exception | None,
        response: Any = None,
        length: int = 0,
    ) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=length,
            response=response,
            exception=exception,
            context={},
            url=self.url,
        )
