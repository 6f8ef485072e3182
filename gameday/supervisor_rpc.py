"""Supervisor's XML-RPC interface over its unix socket (standard library only).

``proxy(url)`` returns supervisor's ``supervisor`` namespace for a
``unix:///path/to.sock`` URL (the lab's) or an ``http://host:port`` one, so
recovery can start programs with nothing but the machine's python3.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from typing import Any

__all__ = ["BAD_NAME", "proxy"]

BAD_NAME = 10  # supervisor.xmlrpc.Faults.BAD_NAME: no such program
TIMEOUT_S = 30.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_S)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.socket_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self.socket_path)


def proxy(url: str) -> Any:
    """The ``supervisor`` namespace of the supervisord at ``url``."""
    if url.startswith("unix://"):
        transport = _UnixTransport(url.removeprefix("unix://"))
        return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport).supervisor
    return xmlrpc.client.ServerProxy(f"{url.rstrip('/')}/RPC2").supervisor
