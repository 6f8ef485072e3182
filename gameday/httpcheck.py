"""Bounded HTTP calls to the target's API, for probes (loopback unless allowed).

Every call has a timeout; a target whose host is not loopback is refused
unless the experiment's configuration sets ``allow_remote_target: true``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from gameday.errors import GamedayError
from gameday.target import is_loopback, load_target

__all__ = [
    "Answer",
    "HttpCheckError",
    "InvalidCall",
    "api_url",
    "call",
    "fetch_text",
    "is_loopback",
    "recovery_failure",
    "require_loopback",
]

MAX_TIMEOUT_S = 60.0


class HttpCheckError(GamedayError):
    """The target refused the connection, timed out, or may not be contacted."""


class InvalidCall(GamedayError):
    """The call itself is malformed (path, timeout); nothing was sent."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, decoded body (JSON when possible), elapsed time, headers
    (names in lower case)."""

    status: int
    body: Any
    elapsed_ms: float
    headers: dict[str, str] = field(default_factory=dict)


def require_loopback(url: str, allow_remote: bool = False) -> None:
    """Refuse a non-http(s) URL, or a host that is not loopback unless ``allow_remote``."""
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpCheckError(f"target URL {url!r} is not an http(s) URL: fix api_url")
    if not allow_remote and not is_loopback(parts.hostname):
        raise HttpCheckError(
            f"refusing to send traffic to {parts.hostname}: only loopback targets are allowed; "
            "set `allow_remote_target: true` in the experiment's configuration if this "
            "system is yours to test"
        )


def api_url(configuration: dict[str, Any] | None = None) -> str:
    """The target's API URL, checked against the loopback rule."""
    target = load_target(configuration)
    require_loopback(target.api_url, target.allow_remote_target)
    return target.api_url


def fetch_text(base_url: str, path: str, timeout_s: float = 5) -> str | None:
    """The whole body of a GET (the /metrics text), or None when it does not answer 200."""
    try:
        response = requests.get(f"{base_url}{path}", timeout=timeout_s)
    except requests.RequestException:
        return None
    return response.text if response.status_code == 200 else None


def call(base_url: str, method: str, path: str, timeout_s: float, json_body: Any = None) -> Answer:
    """One bounded request; HttpCheckError names the URL and cause if no HTTP answer came."""
    if not path.startswith("/"):
        raise InvalidCall(f"path {path!r} must start with '/'")
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise InvalidCall(f"timeout must be in (0, {MAX_TIMEOUT_S:.0f}] s, got {timeout_s!r}")
    url = f"{base_url}{path}"
    started = time.perf_counter()
    try:
        response = requests.request(method, url, json=json_body, timeout=timeout_s)
    except requests.Timeout:
        raise HttpCheckError(f"{method} {url} timed out after {timeout_s} s") from None
    except requests.RequestException as exc:
        raise HttpCheckError(f"{method} {url} got no answer: {type(exc).__name__}") from None
    elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(response.status_code, body, elapsed_ms, headers)


def recovery_failure(base_url: str, timeout_s: float, order: dict[str, Any]) -> str | None:
    """What still fails (readiness, then placing ``order``), or None once both succeed: the
    API has recovered when /readyz answers 200 and an order is acknowledged."""
    try:
        ready = call(base_url, "GET", "/readyz", timeout_s)
        if ready.status != 200:
            return f"/readyz answered {ready.status}: {str(ready.body)[:200]}"
        placed = call(base_url, "POST", "/api/v1/order", timeout_s, order)
    except HttpCheckError as exc:
        return str(exc)
    if placed.status != 200 or not isinstance(placed.body, dict) or "id" not in placed.body:
        return f"an order answered {placed.status}: {str(placed.body)[:200]}"
    return None
