"""/ws/dashboard: the dashboard pushed on connect and then every update interval."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ..broadcaster import Broadcaster, Client
from ..telemetry import WEBSOCKET_CONNECTIONS, WEBSOCKETS_OPEN

router = APIRouter()
MAX_SEND_SECONDS = 5.0


@router.websocket("/ws/dashboard")
async def dashboard_socket(websocket: WebSocket) -> None:
    broadcaster: Broadcaster = websocket.app.state.broadcaster
    await websocket.accept()
    client = Client(websocket, send_timeout=min(MAX_SEND_SECONDS, broadcaster.interval))
    broadcaster.clients.add(client)
    WEBSOCKET_CONNECTIONS.labels(action="connected").inc()
    WEBSOCKETS_OPEN.inc()
    tasks = [
        asyncio.create_task(client.pump()),
        asyncio.create_task(_until_closed(websocket)),
        asyncio.create_task(client.too_slow.wait()),
    ]
    try:
        first = await broadcaster.payload()
        if first is not None:
            client.offer(first)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        broadcaster.clients.discard(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        WEBSOCKET_CONNECTIONS.labels(action="disconnected").inc()
        WEBSOCKETS_OPEN.dec()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await websocket.close(code=1013)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until the client goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
