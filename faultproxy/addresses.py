"""Addresses the proxy listens on and forwards to: loopback unless allowed otherwise."""

from __future__ import annotations

import ipaddress
from typing import Any

from .errors import ApiError


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
