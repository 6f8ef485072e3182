"""The control API over HTTP/1.1: Toxiproxy's paths, shapes and status codes."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

from .errors import ApiError
from .proxies import FaultProxy

VERSION = "2.9.0-coffee-chaos"
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


async def route(app: FaultProxy, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Dispatch one API request to ``(status, json body or None)``."""
    parts = [urllib.parse.unquote(p) for p in path.split("?", 1)[0].split("/") if p]
    match (method, parts):
        case ("GET", ["version"]):
            return 200, {"version": VERSION}
        case ("POST", ["reset"]):
            await app.reset()
            return 204, None
        case ("GET", ["proxies"]):
            return 200, {n: p.to_json() for n, p in app.proxies.items()}
        case ("POST", ["proxies"]):
            return 201, (await app.create(body)).to_json()
        case ("POST", ["populate"]):
            return 201, {"proxies": [p.to_json() for p in await app.populate(body)]}
        case ("GET", ["proxies", name]):
            return 200, app.get(name).to_json()
        case ("POST" | "PATCH", ["proxies", name]):
            return 200, (await app.update(name, body)).to_json()
        case ("DELETE", ["proxies", name]):
            await app.delete(name)
            return 204, None
        case ("GET", ["proxies", name, "toxics"]):
            return 200, [t.to_json() for t in app.get(name).toxics.values()]
        case ("POST", ["proxies", name, "toxics"]):
            return 200, app.add_toxic(name, body).to_json()
        case ("GET", ["proxies", name, "toxics", toxic]):
            return 200, app.get_toxic(app.get(name), toxic).to_json()
        case ("POST" | "PATCH", ["proxies", name, "toxics", toxic]):
            return 200, app.update_toxic(name, toxic, body).to_json()
        case ("DELETE", ["proxies", name, "toxics", toxic]):
            app.remove_toxic(name, toxic)
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
                status, payload = await route(app, method, path, body)
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
