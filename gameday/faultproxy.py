"""A Toxiproxy-compatible TCP fault proxy (standard library only).

The lab's kernel has no ``netem``, so the API reaches PostgreSQL and Redis
through this proxy, which injects latency, stalls, resets, bandwidth limits,
slow closes and data limits. It speaks Toxiproxy's HTTP API (same paths,
shapes and status codes), so a real Toxiproxy server or the
chaostoolkit-toxiproxy extension can stand in for it.

Run::

    python3 faultproxy.py --listen 127.0.0.1:8474 --config /etc/coffee-chaos/faultproxy.json

The config uses Toxiproxy's "populate" format: a JSON list of
``{"name", "listen", "upstream", "enabled"}``. Every listen address must be a
loopback address. One difference from Toxiproxy: a ``timeout`` toxic holds
data instead of dropping it, and removing the toxic delivers what was held.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import itertools
import json
import logging
import os
import random
import signal
import socket
import struct
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = "2.9.0-coffee-chaos"
STREAMS = ("downstream", "upstream")
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "limit_data": ("bytes",),
}
READ_SIZE = 256 * 1024
QUEUE_HIGH = 1024 * 1024
QUEUE_LOW = 256 * 1024
UPSTREAM_CONNECT_TIMEOUT = 10.0
HTTP_IDLE_TIMEOUT = 60.0
HTTP_MAX_HEADER = 64 * 1024
HTTP_MAX_BODY = 1024 * 1024
HTTP_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}

logger = logging.getLogger("faultproxy")
_uids = itertools.count(1)


class ApiError(Exception):
    """An error the control API reports as ``{"error": ..., "status": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


# --- addresses ---------------------------------------------------------------


def split_address(value: Any, what: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:port`` for IPv6) or raise a 400 naming ``what``."""
    if not isinstance(value, str) or ":" not in value:
        raise ApiError(400, f"{what} must be 'host:port', got {value!r}")
    host, _, port_text = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ApiError(400, f"{what} {value!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(value: Any, what: str = "listen") -> tuple[str, int]:
    """A loopback ``host:port`` to listen on, or a 400 saying why not."""
    host, port = split_address(value, what)
    if not is_loopback(host):
        raise ApiError(
            400,
            f"{what} {value!r} is not a loopback address: the fault proxy only listens on "
            "127.0.0.1, ::1 or localhost; use e.g. '127.0.0.1:0'",
        )
    return host, port


def check_upstream(value: Any, allow_remote: bool) -> tuple[str, int]:
    """A ``host:port`` upstream; loopback only unless remote upstreams are allowed."""
    host, port = split_address(value, "upstream")
    if not host or port == 0:
        raise ApiError(400, f"upstream {value!r} needs a host and a non-zero port")
    if not allow_remote and not is_loopback(host):
        raise ApiError(
            400,
            f"upstream {value!r} is not a loopback address: lab traffic stays on loopback; "
            "start the proxy with --allow-remote-upstream to proxy to other hosts",
        )
    return host, port


# --- toxics --------------------------------------------------------------------


@dataclass
class Toxic:
    """A fault applied to one direction of every connection of a proxy."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    uid: int = field(default_factory=lambda: next(_uids))

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    def __getitem__(self, attribute: str) -> int:
        return self.attributes.get(attribute, 0)


def _check_toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ApiError(400, f"toxicity must be a number from 0 to 1, got {value!r}")
    return float(value)


def _check_attributes(kind: str, raw: Any, base: dict[str, int]) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise ApiError(400, f"attributes must be a JSON object, got {raw!r}")
    allowed = TOXIC_ATTRIBUTES[kind]
    merged = dict(base)
    for key, value in raw.items():
        if key not in allowed:
            raise ApiError(
                400,
                f"unknown attribute {key!r} for toxic type {kind!r}: it takes {', '.join(allowed)}",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ApiError(
                400, f"attribute {key!r} of a {kind} toxic must be a number >= 0, got {value!r}"
            )
        merged[key] = int(value)
    return merged


def parse_toxic(body: Any) -> Toxic:
    """A new toxic from a Toxiproxy-shaped request body, or a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise ApiError(
            400, "the toxic must be a JSON object {name, type, stream, toxicity, attributes}"
        )
    kind = body.get("type")
    if not kind:
        raise ApiError(400, "missing required field: type")
    if kind not in TOXIC_ATTRIBUTES:
        raise ApiError(
            400, f"invalid toxic type: {kind!r}; known types: {', '.join(TOXIC_ATTRIBUTES)}"
        )
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError(400, f"stream was invalid: {stream!r}, can be either upstream or downstream")
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise ApiError(400, f"name must be a string, got {name!r}")
    toxicity = _check_toxicity(body.get("toxicity", 1.0))
    attributes = _check_attributes(kind, body.get("attributes") or {}, {})
    return Toxic(name, kind, stream, toxicity, attributes)


# --- data path -------------------------------------------------------------------


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


class Proxy:
    """A listening address, its upstream, its toxics and its live connections."""

    def __init__(self, name: str, listen: str, upstream: str, enabled: bool) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.toxics: dict[str, Toxic] = {}
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None
        self.reachable = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics.values()],
        }

    async def start(self) -> None:
        """Listen (if enabled); a port of 0 is replaced by the port obtained."""
        if not self.enabled or self.server is not None:
            return
        host, port = check_listen(self.listen)
        try:
            self.server = await asyncio.get_running_loop().create_server(
                lambda: Connection(self).client, host, port, reuse_address=True
            )
        except OSError as exc:
            self.enabled = False
            raise ApiError(
                500, f"proxy {self.name}: cannot listen on {self.listen}: {exc.strerror}"
            ) from None
        bound = self.server.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.listen = f"{shown}:{bound[1]}"

    async def stop(self) -> None:
        """Stop listening and close every connection (the dependency looks down)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.close()

    def upstream_reachable(self, reachable: bool, reason: str = "") -> None:
        """Log once when the upstream stops answering, and once when it is back."""
        if reachable != self.reachable:
            self.reachable = reachable
            if reachable:
                logger.info("proxy %s: upstream %s reachable again", self.name, self.upstream)
            else:
                logger.warning(
                    "proxy %s: upstream %s unreachable (%s); clients are disconnected",
                    self.name,
                    self.upstream,
                    reason,
                )

    def toxics_changed(self) -> None:
        for conn in list(self.connections):
            conn.refresh()


# --- control ---------------------------------------------------------------------


class FaultProxy:
    """The proxies and the Toxiproxy-compatible operations on them."""

    def __init__(self, allow_remote_upstream: bool = False) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.allow_remote_upstream = allow_remote_upstream

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, f"proxy not found: {name!r}") from None

    def _check_proxy(self, body: Any, where: str = "") -> tuple[str, str, str, bool]:
        if not isinstance(body, dict):
            raise ApiError(
                400, f"proxy{where} must be a JSON object {{name, listen, upstream, enabled}}"
            )
        for key in ("name", "upstream"):
            if not body.get(key) or not isinstance(body[key], str):
                raise ApiError(400, f"missing required field: {key}{where}")
        listen = body.get("listen") or "127.0.0.1:0"
        check_listen(listen, f"listen{where}")
        check_upstream(body["upstream"], self.allow_remote_upstream)
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, f"enabled{where} must be true or false, got {enabled!r}")
        return body["name"], listen, body["upstream"], enabled

    async def create(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = self._check_proxy(body)
        if name in self.proxies:
            raise ApiError(409, f"proxy already exists: {name!r}")
        proxy = Proxy(name, listen, upstream, enabled)
        await proxy.start()
        self.proxies[name] = proxy
        logger.info("proxy %s created: %s -> %s, enabled=%s", name, proxy.listen, upstream, enabled)
        return proxy

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace the listed proxies (all are checked before any change)."""
        if isinstance(body, dict) and "proxies" in body:
            body = body["proxies"]
        if not isinstance(body, list):
            raise ApiError(400, "populate expects a JSON list of {name, listen, upstream, enabled}")
        specs = [self._check_proxy(p, f" at proxy {i + 1}") for i, p in enumerate(body)]
        result = []
        for name, listen, upstream, enabled in specs:
            existing = self.proxies.get(name)
            if existing and existing.listen == listen and existing.upstream == upstream:
                result.append(existing)
                continue
            if existing:
                await existing.stop()
                del self.proxies[name]
            result.append(
                await self.create(
                    {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
                )
            )
        return result

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ApiError(400, "the update must be a JSON object {listen, upstream, enabled}")
        merged = {**proxy.to_json(), **body, "name": name}
        _, listen, upstream, enabled = self._check_proxy(merged)
        if listen != proxy.listen or upstream != proxy.upstream:
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
        if enabled and not proxy.enabled:
            proxy.enabled = True
            await proxy.start()
        elif not enabled:
            proxy.enabled = False
            await proxy.stop()
        else:
            await proxy.start()
        logger.info(
            "proxy %s updated: %s -> %s, enabled=%s",
            name,
            proxy.listen,
            proxy.upstream,
            proxy.enabled,
        )
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]
        logger.info("proxy %s deleted", name)

    def get_toxic(self, proxy: Proxy, name: str) -> Toxic:
        try:
            return proxy.toxics[name]
        except KeyError:
            raise ApiError(404, f"toxic not found: {name!r} on proxy {proxy.name!r}") from None

    def add_toxic(self, name: str, body: Any) -> Toxic:
        proxy = self.get(name)
        toxic = parse_toxic(body)
        if toxic.name in proxy.toxics:
            raise ApiError(409, f"toxic already exists: {toxic.name!r} on proxy {name!r}")
        proxy.toxics[toxic.name] = toxic
        proxy.toxics_changed()
        logger.info(
            "proxy %s: toxic %s added: type=%s stream=%s toxicity=%s attributes=%s",
            name,
            toxic.name,
            toxic.type,
            toxic.stream,
            toxic.toxicity,
            json.dumps(toxic.attributes, sort_keys=True),
        )
        return toxic

    def update_toxic(self, name: str, toxic_name: str, body: Any) -> Toxic:
        proxy = self.get(name)
        old = self.get_toxic(proxy, toxic_name)
        if not isinstance(body, dict):
            raise ApiError(400, "the toxic update must be a JSON object {toxicity, attributes}")
        for key in ("type", "stream"):
            if key in body and body[key] != getattr(old, key):
                raise ApiError(
                    400, f"{key} of toxic {toxic_name!r} cannot change: delete it and add a new one"
                )
        toxicity = _check_toxicity(body.get("toxicity", old.toxicity))
        attributes = _check_attributes(old.type, body.get("attributes") or {}, old.attributes)
        toxic = Toxic(old.name, old.type, old.stream, toxicity, attributes)
        proxy.toxics[toxic_name] = toxic
        proxy.toxics_changed()
        logger.info(
            "proxy %s: toxic %s updated: toxicity=%s attributes=%s",
            name,
            toxic_name,
            toxicity,
            json.dumps(attributes, sort_keys=True),
        )
        return toxic

    def remove_toxic(self, name: str, toxic_name: str) -> None:
        proxy = self.get(name)
        self.get_toxic(proxy, toxic_name)
        del proxy.toxics[toxic_name]
        proxy.toxics_changed()
        logger.info("proxy %s: toxic %s removed", name, toxic_name)

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            proxy.toxics_changed()
            if not proxy.enabled:
                proxy.enabled = True
                await proxy.start()
        logger.info("reset: all proxies enabled, all toxics removed")

    async def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Dispatch one API request to ``(status, json body or None)``."""
        parts = [urllib.parse.unquote(p) for p in path.split("?", 1)[0].split("/") if p]
        match (method, parts):
            case ("GET", ["version"]):
                return 200, {"version": VERSION}
            case ("POST", ["reset"]):
                await self.reset()
                return 204, None
            case ("GET", ["proxies"]):
                return 200, {n: p.to_json() for n, p in self.proxies.items()}
            case ("POST", ["proxies"]):
                return 201, (await self.create(body)).to_json()
            case ("POST", ["populate"]):
                return 201, {"proxies": [p.to_json() for p in await self.populate(body)]}
            case ("GET", ["proxies", name]):
                return 200, self.get(name).to_json()
            case ("POST" | "PATCH", ["proxies", name]):
                return 200, (await self.update(name, body)).to_json()
            case ("DELETE", ["proxies", name]):
                await self.delete(name)
                return 204, None
            case ("GET", ["proxies", name, "toxics"]):
                return 200, [t.to_json() for t in self.get(name).toxics.values()]
            case ("POST", ["proxies", name, "toxics"]):
                return 200, self.add_toxic(name, body).to_json()
            case ("GET", ["proxies", name, "toxics", toxic]):
                return 200, self.get_toxic(self.get(name), toxic).to_json()
            case ("POST" | "PATCH", ["proxies", name, "toxics", toxic]):
                return 200, self.update_toxic(name, toxic, body).to_json()
            case ("DELETE", ["proxies", name, "toxics", toxic]):
                self.remove_toxic(name, toxic)
                return 204, None
            case (
                _,
                ["version"]
                | ["reset"]
                | ["populate"]
                | ["proxies"]
                | ["proxies", _]
                | ["proxies", _, "toxics"]
                | ["proxies", _, "toxics", _],
            ):
                raise ApiError(405, f"method {method} is not allowed on {path}")
        raise ApiError(404, f"no such endpoint: {method} {path}")


# --- HTTP/1.1 ----------------------------------------------------------------------


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HTTP_IDLE_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise ApiError(413, "request headers are too large") from None
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split()
    if len(request_line) != 3:
        raise ApiError(400, f"malformed request line: {lines[0][:100]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ApiError(400, "chunked request bodies are not supported: send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise ApiError(400, f"bad Content-Length: {length_text!r}")
    length = int(length_text)
    if length > HTTP_MAX_BODY:
        raise ApiError(413, f"request body of {length} bytes is larger than {HTTP_MAX_BODY}")
    body = await reader.readexactly(length) if length else b""
    return request_line[0].upper(), request_line[1], headers, body


def _response(status: int, payload: Any, keep_alive: bool) -> bytes:
    body = b"" if payload is None else json.dumps(payload).encode() + b"\n"
    head = [
        f"HTTP/1.1 {status} {HTTP_REASONS.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def serve_api(
    app: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve control requests on one HTTP connection (keep-alive)."""
    try:
        while True:
            try:
                request = await _read_request(reader)
            except ApiError as exc:
                writer.write(_response(exc.status, exc.to_json(), keep_alive=False))
                await writer.drain()
                return
            if request is None:
                return
            method, path, headers, raw = request
            keep_alive = headers.get("connection", "").lower() != "close"
            try:
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError as exc:
                    raise ApiError(400, f"request body is not valid JSON: {exc}") from None
                status, payload = await app.route(method, path, body)
            except ApiError as exc:
                status, payload = exc.status, exc.to_json()
            writer.write(_response(status, payload, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


# --- entry point -----------------------------------------------------------------------


def load_config(path: Path) -> Any:
    """The populate-format config file, or a ValueError naming the file and the problem."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"config file {path} does not exist; create it (a JSON list of "
            "{name, listen, upstream, enabled}) or omit --config"
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from None


async def run(listen: str, config: Any, allow_remote_upstream: bool) -> None:
    """Start the proxies and the control API; run until SIGTERM or SIGINT."""
    app = FaultProxy(allow_remote_upstream)
    host, port = check_listen(listen, "--listen")
    if config is not None:
        await app.populate(config)
    server = await asyncio.start_server(
        lambda r, w: serve_api(app, r, w),
        host,
        port,
        limit=HTTP_MAX_HEADER,
        reuse_address=True,
    )
    bound = server.sockets[0].getsockname()
    logger.info("control API listening on %s:%s", bound[0], bound[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for proxy in app.proxies.values():
        await proxy.stop()
    logger.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8474",
        help="control API address, loopback only (default 127.0.0.1:8474)",
    )
    parser.add_argument("--config", type=Path, help="proxies to create (populate format)")
    parser.add_argument(
        "--allow-remote-upstream",
        action="store_true",
        help="allow upstreams that are not loopback addresses",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s faultproxy %(levelname)s %(message)s",
    )
    try:
        config = load_config(args.config) if args.config else None
        asyncio.run(run(args.listen, config, args.allow_remote_upstream))
    except (ApiError, ValueError) as exc:
        print(f"faultproxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"faultproxy: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
