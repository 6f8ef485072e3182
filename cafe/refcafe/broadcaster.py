"""One task computes the dashboard once per interval and hands it to every open WebSocket.

Each client has a bounded queue drained by its own sender with a send timeout: a client
that falls behind (queue full) or stalls a send is disconnected, never waited for.
Two switchable flaws live here: websocket-stops-after-redis-blip and serial-broadcast.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .errors import DependencyUnavailable

logger = logging.getLogger(__name__)

QUEUE_SIZE = 2
SERIAL_SEND_SECONDS = 0.015  # the serial-broadcast flaw's work per send


class Client:
    """An open dashboard socket with its own bounded outbox."""

    def __init__(self, websocket: WebSocket, send_timeout: float) -> None:
        self.websocket = websocket
        self.send_timeout = send_timeout
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.too_slow = asyncio.Event()

    def offer(self, text: str) -> None:
        """Queue ``text`` without waiting; a full queue marks the client too slow."""
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.too_slow.set()

    async def pump(self) -> None:
        """Send queued payloads; a send slower than ``send_timeout`` ends the client."""
        while True:
            text = await self.outbox.get()
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self.websocket.send_text(text)
            except TimeoutError:
                logger.info("dropping a websocket client: a send took over %ss", self.send_timeout)
                return


class Broadcaster:
    """Compute the payload once per ``interval`` and offer it to every client."""

    def __init__(
        self,
        build: Callable[[], Awaitable[dict[str, Any]]],
        interval: float,
        stops_on_error: bool = False,
        serial: bool = False,
    ) -> None:
        self._build = build
        self.interval = interval
        self.stops_on_error = stops_on_error
        self.serial = serial
        self.clients: set[Client] = set()

    async def payload(self) -> str | None:
        """The dashboard JSON, or None (logged) while Redis cannot answer."""
        try:
            return json.dumps(await self._build())
        except DependencyUnavailable as exc:
            logger.warning("no dashboard push: %s", exc)
            return None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.clients:
                continue
            text = await self.payload()
            if text is None:
                if self.stops_on_error:
                    logger.error("the broadcaster stops: no more pushes until a restart")
                    return
                continue
            for client in list(self.clients):
                if self.serial:
                    await _send_in_turn(client, text)
                else:
                    client.offer(text)


async def _send_in_turn(client: Client, text: str) -> None:
    """The serial-broadcast flaw: the send's work and the send itself, awaited in turn."""
    await asyncio.sleep(SERIAL_SEND_SECONDS)
    try:
        await client.websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):  # gone meanwhile: its handler cleans up
        pass
