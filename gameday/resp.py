"""Redis commands over a plain socket (standard library only): what recovery needs to send
``CLIENT UNPAUSE`` or ``CONFIG SET`` with the machine's python3, no redis-py.

The ``redis_url`` credential says where and as whom: ``redis://`` (``rediss://``: TLS)
``[[username]:password@]host[:port][/db]``, or ``unix://[[username]:password@]/path``, and
``?db=N``. The client connects (``CONNECT_TIMEOUT_S``), sends ``AUTH [username] password`` when
the URL has a password and ``SELECT db`` when the db is not 0, then the command, and waits
``timeout_s`` for each reply (RESP2: simple strings, errors, integers, bulk strings,
arrays). No message names the password.
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
from gameday.target import Target, TargetError, load_secrets

__all__ = ["Address", "RespError", "address", "call", "command", "redis_url"]

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


def redis_url(target: Target, secrets: dict | None = None) -> str:
    """The target's ``redis_url`` credential (the run's secrets scope, else its file)."""
    try:
        url = load_secrets(target, secrets).get("redis_url")
    except TargetError as exc:
        raise RespError(str(exc)) from None
    if not url:
        raise RespError(
            f"no redis_url credential: add it to the `coffee` secrets scope or {target.secrets_file}"
        )
    return url


def command(url: str, timeout_s: float, *words: Any) -> Any:
    """Send ``words`` (AUTH and SELECT first, as the URL says); Redis's reply."""
    return call(url, timeout_s, words)[0]


def call(url: str, timeout_s: float, *commands: tuple[Any, ...]) -> list[Any]:
    """Send each of ``commands`` in turn on one connection (AUTH and SELECT first); their
    replies. A Redis error reply raises ``RespError``."""
    where = address(url)
    hide = Redactor([where.password])
    try:
        with _connect(where) as sock, sock.makefile("rb") as reader:
            sock.settimeout(timeout_s)  # an ALL pause holds AUTH and SELECT too
            if where.password:
                login = [where.username] if where.username else []
                _call(sock, reader, "AUTH", *login, where.password)
            if where.db:
                _call(sock, reader, "SELECT", where.db)
            return [_call(sock, reader, *words) for words in commands]
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


def _call(sock: socket.socket, reader: BufferedReader, *words: Any) -> Any:
    """Send one command; its reply, or RespError with Redis's error."""
    encoded = [str(word).encode() for word in words]
    request = b"*%d\r\n" % len(encoded)
    for word in encoded:
        request += b"$%d\r\n%s\r\n" % (len(word), word)
    sock.sendall(request)
    reply = _reply(reader, words[0])
    if isinstance(reply, RespError):
        raise RespError(f"{words[0]}: {reply}")
    return reply


def _reply(reader: BufferedReader, name: Any) -> Any:
    """One RESP2 reply; an error reply is returned (not raised) so arrays read whole."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RespError(f"{name}: the connection closed without a reply")
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
        return None if size < 0 else [_reply(reader, name) for _ in range(size)]
    raise RespError(f"{name}: unexpected reply {line[:40]!r}")
