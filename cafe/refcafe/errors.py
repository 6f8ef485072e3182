"""A dependency (PostgreSQL, Redis) that failed or was too slow, and its 503 answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

_WHAT = {"postgresql": "database unavailable", "redis": "cache unavailable"}


class DependencyUnavailable(Exception):
    """``dependency`` could not answer in time; ``reason`` says why (for logs, not clients),
    ``detail`` what clients are told (default: the dependency is unavailable)."""

    def __init__(self, dependency: str, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.detail = detail


async def dependency_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer 503 naming the dependency, so clients can tell which one failed."""
    assert isinstance(exc, DependencyUnavailable)
    return JSONResponse(
        {
            "detail": exc.detail or _WHAT.get(exc.dependency, "dependency unavailable"),
            "dependency": exc.dependency,
        },
        status_code=503,
        headers={"Retry-After": "1"},
    )
