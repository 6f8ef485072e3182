"""Pure ASGI middlewares: request metrics by route template, the request body limit, and
the memory-per-request and 500-while-starting flaws."""

from __future__ import annotations

import json
from time import monotonic, perf_counter

from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .telemetry import HTTP_DURATION, HTTP_REQUESTS

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class RequestMetrics:
    """Count and time every HTTP request; ``endpoint`` is the route template, never the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._record(scope, status, perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or UNMATCHED
        counter = self._counters.get((method, endpoint, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method, endpoint, str(status))
            self._counters[(method, endpoint, status)] = counter
        timer = self._timers.get((method, endpoint))
        if timer is None:
            timer = HTTP_DURATION.labels(method, endpoint)
            self._timers[(method, endpoint)] = timer
        counter.inc()
        timer.observe(elapsed)


class RetainPerRequest:
    """The memory-per-request flaw: keep 100 KiB (touched, so resident) of every request."""

    RETAINED_BYTES = 100 * 1024

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.retained: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.retained.append(b"\xff" * self.RETAINED_BYTES)
        await self.app(scope, receive, send)


class FailWhileStarting:
    """The 500-while-starting flaw: every HTTP request answers 500 for the first ``for_s``
    seconds after the app starts (it listens before its start-up is done)."""

    def __init__(self, app: ASGIApp, for_s: float) -> None:
        self.app = app
        self.until = monotonic() + for_s  # built when the app starts (its first ASGI call)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and monotonic() < self.until:
            await _refuse(send, 500, "starting")
            return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length and by streamed size."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _refuse(send, 400, "Content-Length is not a number")
                    return
                if int(value) > self.max_bytes:
                    await self._refuse_too_large(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse_too_large(send)

    async def _refuse_too_large(self, send: Send) -> None:
        await _refuse(
            send, 413, f"request body is larger than {self.max_bytes} bytes: send a smaller body"
        )


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
