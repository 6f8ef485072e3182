"""Proxies and the Toxiproxy-compatible operations on them."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from .addresses import check_listen, check_upstream
from .connection import Connection
from .errors import ApiError
from .toxics import Toxic, check_attributes, check_toxicity, parse_toxic

logger = logging.getLogger("faultproxy")


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
        toxicity = check_toxicity(body.get("toxicity", old.toxicity))
        attributes = check_attributes(old.type, body.get("attributes") or {}, old.attributes)
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
