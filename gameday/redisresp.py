"""Redis commands over a plain socket (standard library only): what a reverter needs to send
``CONFIG SET`` with the machine's python3, no redis-py; and the replies it reads back
(simple strings, errors, integers, bulk strings, arrays: RESP2).

The ``redis_url`` credential says where and as whom: ``redis://`` (``rediss://``: TLS)
``[[username]:password@]host[:port][/db]``, or ``unix://[[username]:password@]/path``. The
password goes to Redis in ``AUTH``, inside the connection; no message names it.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from gameday.errors import GamedayError

__all__ = ["RespError", "call"]

CONNECT_TIMEOUT_S = 3.0
SCHEMES = ("redis", "rediss", "unix")


class RespError(GamedayError):
    """The URL is not one this client reads, or Redis could not be reached or said no."""


def call(url: str, timeout_s: float, *commands: tuple[Any, ...]) -> list[Any]:
    """Send each command of ``commands`` in turn on one connection (AUTH first when the URL
    has a password); their replies. A Redis error reply raises ``RespError``."""
    parts = _parts(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    try:
        with _connect(parts) as sock, sock.makefile("rb") as reader:
            if parts.password:
                login = [unquote(parts.username)] if parts.username else []
                _send(sock, reader, "AUTH", *login, unquote(parts.password))
            db = parts.path.lstrip("/") if parts.scheme != "unix" else ""
            if db and db != "0":
                _send(sock, reader, "SELECT", db)
            sock.settimeout(timeout_s)
            return [_send(sock, reader, *command) for command in commands]
    except OSError as exc:
        raise RespError(
            f"Redis at {where}: {exc.__class__.__name__}: {exc.strerror or exc}"
        ) from None
    except RespError as exc:
        raise RespError(f"Redis at {where}: {exc}") from None


def _parts(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise RespError(f"the redis_url credential is not a URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise RespError(
            f"the redis_url credential's scheme {parts.scheme!r} is not one of "
            f"{', '.join(SCHEMES)}: fix it in the secrets"
        )
    return parts


def _connect(parts) -> socket.socket:
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(parts.path)
        except OSError:
            sock.close()
            raise
        return sock
    host = parts.hostname or "127.0.0.1"
    sock = socket.create_connection((host, parts.port or 6379), timeout=CONNECT_TIMEOUT_S)
    if parts.scheme == "rediss":
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    return sock


def _send(sock: socket.socket, reader: Any, *words: Any) -> Any:
    encoded = [str(word).encode() for word in words]
    request = b"*%d\r\n" % len(encoded)
    for word in encoded:
        request += b"$%d\r\n%s\r\n" % (len(word), word)
    sock.sendall(request)
    reply = _reply(reader)
    if isinstance(reply, RespError):
        raise RespError(f"{words[0]}: {reply}")
    return reply


def _reply(reader: Any) -> Any:
    """One RESP2 reply; an error reply is returned (not raised) so arrays read whole."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RespError("the connection closed without a reply")
    kind, text = line[:1], line[1:-2]
    if kind == b"+":
        return text.decode(errors="replace")
    if kind == b"-":
        return RespError(text.decode(errors="replace"))
    if kind == b":":
        return int(text)
    if kind == b"$":
        size = int(text)
        return None if size < 0 else reader.read(size + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        size = int(text)
        return None if size < 0 else [_reply(reader) for _ in range(size)]
    raise RespError(f"unexpected reply {line[:40]!r}")
