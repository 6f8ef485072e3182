"""The data path: a client connection, its upstream connection, and the toxics between them."""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
import struct
from typing import TYPE_CHECKING

from .addresses import split_address
from .toxics import Toxic

if TYPE_CHECKING:
    from .proxies import Proxy

QUEUE_HIGH = 1024 * 1024
QUEUE_LOW = 256 * 1024
UPSTREAM_CONNECT_TIMEOUT = 10.0


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: the client's or the upstream's."""

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=QUEUE_HIGH)
        if self.role == "client":
            self.conn.client_connected()

    def data_received(self, data: bytes) -> None:
        self.conn.outgoing[self.role].feed(data)

    def eof_received(self) -> bool:
        self.conn.outgoing[self.role].feed_eof()
        return True

    def pause_writing(self) -> None:
        self.conn.incoming[self.role].block("dst", True)

    def resume_writing(self) -> None:
        self.conn.incoming[self.role].block("dst", False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()


class _Direction:
    """Data flowing one way (``upstream``: client to server, ``downstream``: back)."""

    def __init__(self, conn: Connection, stream: str, src: _Side, dst: _Side) -> None:
        self.conn = conn
        self.stream = stream
        self.src = src
        self.dst = dst
        self.toxics: list[Toxic] = []
        self.queue: collections.deque[tuple[float, float, bytes | None]] = collections.deque()
        self.queued = 0
        self.blocked: set[str] = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sent: dict[int, int] = {}
        self.next_send = 0.0
        self.done = False

    def feed(self, data: bytes) -> None:
        """Pass data on at once when nothing applies; queue it otherwise."""
        if not self.toxics and not self.queue and self.dst.transport is not None:
            self.dst.transport.write(data)  # type: ignore[union-attr]
            return
        self.queue.append((self.conn.loop.time(), random.uniform(-1.0, 1.0), data))
        self.queued += len(data)
        if self.queued > QUEUE_HIGH:
            self.block("queue", True)
        self.kick()

    def feed_eof(self) -> None:
        if not self.toxics and not self.queue and self.dst.transport is not None:
            self.finish()
            return
        self.queue.append((self.conn.loop.time(), 0.0, None))
        self.kick()

    def block(self, reason: str, on: bool) -> None:
        """Pause reading the source while the queue or the destination is full."""
        transport = self.src.transport
        if on and reason not in self.blocked:
            self.blocked.add(reason)
            if transport is not None:
                transport.pause_reading()
        elif not on and reason in self.blocked:
            self.blocked.discard(reason)
            if not self.blocked and transport is not None:
                transport.resume_reading()
            self.wake.set()

    def kick(self) -> None:
        """Wake the queue's writer, starting it if needed."""
        self.wake.set()
        if self.queue and (self.task is None or self.task.done()):
            self.task = self.conn.loop.create_task(self._drain())

    def finish(self) -> None:
        """The source ended: end the destination's writing side."""
        self.done = True
        transport = self.dst.transport
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()
        if all(d.done for d in self.conn.outgoing.values()):
            self.conn.close()

    async def _wait(self, seconds: float | None) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            pass

    def _delay(self, jitter: float) -> float:
        total = 0.0
        for toxic in self.toxics:
            if toxic.type == "latency":
                total += max(0.0, toxic["latency"] + jitter * toxic["jitter"]) / 1000
        return total

    async def _drain(self) -> None:
        loop = self.conn.loop
        while self.queue and not self.conn.closed:
            arrival, jitter, data = self.queue[0]
            if self.dst.transport is None:  # the upstream connection is still being made
                await self._wait(None)
                continue
            if any(t.type == "timeout" for t in self.toxics):
                await self._wait(None)
                continue
            release = arrival + self._delay(jitter)
            if release > loop.time():
                await self._wait(release - loop.time())
                continue
            if data is None:
                self.queue.popleft()
                delay = max((t["delay"] for t in self.toxics if t.type == "slow_close"), default=0)
                if delay:
                    await asyncio.sleep(delay / 1000)
                self.finish()
                return
            if "dst" in self.blocked:
                await self._wait(None)
                continue
            rates = [t["rate"] for t in self.toxics if t.type == "bandwidth" and t["rate"] > 0]
            if rates and self.next_send > loop.time():
                await self._wait(self.next_send - loop.time())
                continue
            piece = data[: min(rates) * 100] if rates else data
            piece = self._limit(piece)
            if piece is None:
                return
            self.dst.transport.write(piece)  # type: ignore[union-attr]
            if rates:
                self.next_send = max(self.next_send, loop.time()) + len(piece) / (min(rates) * 1000)
            self._count(piece)
            if len(piece) < len(data):
                self.queue[0] = (arrival, jitter, data[len(piece) :])
            else:
                self.queue.popleft()
            self.queued -= len(piece)
            if self.queued < QUEUE_LOW:
                self.block("queue", False)

    def _limit(self, piece: bytes) -> bytes | None:
        """Cut ``piece`` to what limit_data toxics still allow; close when exhausted."""
        for toxic in self.toxics:
            if toxic.type == "limit_data":
                left = toxic["bytes"] - self.sent.get(toxic.uid, 0)
                if left <= 0:
                    self.conn.close()
                    return None
                piece = piece[:left]
        return piece

    def _count(self, piece: bytes) -> None:
        for toxic in self.toxics:
            if toxic.type == "limit_data":
                self.sent[toxic.uid] = self.sent.get(toxic.uid, 0) + len(piece)
                if self.sent[toxic.uid] >= toxic["bytes"]:
                    self.conn.close()


class Connection:
    """A client connection, its upstream connection, and the toxics applied to them."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self.client = _Side(self, "client")
        self.server = _Side(self, "server")
        up = _Direction(self, "upstream", self.client, self.server)
        down = _Direction(self, "downstream", self.server, self.client)
        self.outgoing = {"client": up, "server": down}
        self.incoming = {"server": up, "client": down}
        self.applies: dict[int, bool] = {}
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self.closed = False
        self.connector: asyncio.Task[None] | None = None

    def client_connected(self) -> None:
        self.proxy.connections.add(self)
        self.refresh()
        self.connector = self.loop.create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        host, port = split_address(self.proxy.upstream, "upstream")
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: self.server, host, port),
                UPSTREAM_CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError) as exc:
            reason = os.strerror(exc.errno) if getattr(exc, "errno", None) else "timed out"
            self.proxy.upstream_reachable(False, reason)
            self.close()
            return
        self.proxy.upstream_reachable(True)
        if self.closed:
            self.server.transport.close()  # type: ignore[union-attr]
            return
        self.outgoing["client"].kick()

    def refresh(self) -> None:
        """Apply the proxy's current toxics (each rolls its toxicity once per connection)."""
        current = list(self.proxy.toxics.values())
        for toxic in current:
            if toxic.uid not in self.applies:
                self.applies[toxic.uid] = random.random() < toxic.toxicity
        live = {t.uid for t in current if self.applies[t.uid]}
        for uid in [u for u in self.timers if u not in live]:
            self.timers.pop(uid).cancel()
        for direction in self.outgoing.values():
            direction.toxics = [
                t for t in current if t.stream == direction.stream and self.applies[t.uid]
            ]
            for toxic in direction.toxics:
                self._arm(toxic)
            direction.kick()

    def _arm(self, toxic: Toxic) -> None:
        if toxic.uid in self.timers:
            return
        if toxic.type == "timeout" and toxic["timeout"] > 0:
            self.timers[toxic.uid] = self.loop.call_later(toxic["timeout"] / 1000, self.close)
        elif toxic.type == "reset_peer":
            side = self.client if toxic.stream == "downstream" else self.server
            self.timers[toxic.uid] = self.loop.call_later(toxic["timeout"] / 1000, self.close, side)

    def close(self, reset: _Side | None = None) -> None:
        """Close both sockets; ``reset`` is closed with a TCP RST (SO_LINGER 0)."""
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        for timer in self.timers.values():
            timer.cancel()
        if self.connector is not None and not self.connector.done():
            self.connector.cancel()
        for direction in self.outgoing.values():
            if direction.task is not None and direction.task is not asyncio.current_task():
                direction.task.cancel()
        for side in (self.client, self.server):
            if side.transport is None:
                continue
            if side is reset:
                sock = side.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                side.transport.abort()
            else:
                side.transport.close()
