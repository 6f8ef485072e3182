"""One Redis command over a plain socket (standard library only): what recovery needs to send
``CLIENT UNPAUSE`` with the machine's python3, no redis-py.

The ``redis_url`` credential says where and as whom: ``redis://`` (``rediss://``: TLS)
``[[username]:password@]host[:port][/db]``, or ``unix://[[username]:password@]/path``, and
``?db=N``. The client connects (``CONNECT_TIMEOUT_S``), sends ``AUTH [username] password`` when
the URL has a password and ``SELECT db`` when the db is not 0, then the command, and waits
``timeout_s`` for each reply (RESP2; a simple string or an error). No message names the
password.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from gameday.errors import GamedayError
from gameday.redact import Redactor

__all__ = ["Address", "RespError", "address", "command"]

CONNECT_TIMEOUT_S = 3.0
DEFAULT_PORT = 6379
SCHEMES = ("redis", "rediss", "unix")


class RespError(GamedayError):
    """The URL is not one this client reads, or Redis could not be reached or said no."""


@dataclass(frozen=True)
class Address:
    """Where Redis listens (``host`` and ``port``, or a unix socket ``path``), its db and
    the credentials to AUTH with."""

    scheme: str
    host: str
    port: int
    path: str
    db: int
    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:
        return self.path if self.scheme == "unix" else f"{self.host}:{self.port}"


def address(url: str) -> Address:
    """The ``Address`` a ``redis_url`` names; a URL this client cannot follow is refused
    naming what is wrong (never the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise RespError(f"the redis_url credential is not a URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise RespError(
            f"the redis_url credential's scheme {parts.scheme!r} is not one of "
            f"{', '.join(SCHEMES)}: fix it in the secrets"
        )
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise RespError(
            f"the redis_url credential has parameter(s) {', '.join(unknown)} that recovery "
            "cannot follow: run `gameday recover` from the venv"
        )
    unix = parts.scheme == "unix"
    db = query.get("db") or ("" if unix else parts.path.lstrip("/")) or "0"
    if not db.isdigit():
        raise RespError(f"the redis_url credential's db {db!r} is not a number")
    return Address(
        scheme=parts.scheme,
        host=parts.hostname or "127.0.0.1",
        port=port,
        path=parts.path if unix else "",
        db=int(db),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def command(url: str, timeout_s: float, *words: Any) -> str:
    """Send ``words`` (AUTH and SELECT first, as the URL says); Redis's simple-string reply."""
    where = address(url)
    hide = Redactor([where.password])
    try:
        with _connect(where) as sock:
            sock.settimeout(timeout_s)  # an ALL pause holds AUTH and SELECT too
            reader = sock.makefile("rb")
            if where.password:
                login = [where.username] if where.username else []
                _call(sock, reader, "AUTH", *login, where.password)
            if where.db:
                _call(sock, reader, "SELECT", where.db)
            return _call(sock, reader, *words)
    except (OSError, RespError) as exc:
        raise RespError(f"Redis at {where}: {hide.text(str(exc))}") from None


def _connect(where: Address) -> socket.socket:
    if where.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
    else:
        sock = socket.create_connection((where.host, where.port), timeout=CONNECT_TIMEOUT_S)
    try:
        if where.scheme == "unix":
            sock.connect(where.path)
        elif where.scheme == "rediss":
            return ssl.create_default_context().wrap_socket(sock, server_hostname=where.host)
    except OSError:
        sock.close()
        raise
    return sock


def _call(sock: socket.socket, reader: BufferedReader, *words: Any) -> str:
    """Send one command; its reply: a simple string, or RespError with Redis's error."""
    encoded = [str(word).encode() for word in words]
    request = b"*%d\r\n" % len(encoded)
    for word in encoded:
        request += b"$%d\r\n%s\r\n" % (len(word), word)
    sock.sendall(request)
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RespError(f"{words[0]}: the connection closed without a reply")
    kind, text = line[:1], line[1:-2].decode(errors="replace")
    if kind == b"+":
        return text
    if kind == b"-":
        raise RespError(f"{words[0]}: {text}")
    raise RespError(f"{words[0]}: unexpected reply {line[:40]!r}")
