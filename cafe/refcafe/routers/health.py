"""/livez (the process runs) and /readyz (PostgreSQL takes writes, Redis answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ..errors import DependencyUnavailable

router = APIRouter()


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Whether PostgreSQL takes writes (through the pool) and Redis answers PING, checked
    concurrently, each bounded in time."""
    state = request.app.state
    never_rechecks = state.settings.flaw("readiness-never-rechecks")
    if never_rechecks and getattr(state, "was_ready", False):  # the flaw: never look again
        return JSONResponse({"status": "ready", "checks": {"postgresql": "ok", "redis": "ok"}})
    if state.settings.flaw("readiness-ignores-read-only"):  # the flaw: answering is enough
        database = state.db.fetchone("SELECT 1")
    else:
        database = state.db.check_writable()
    postgresql, redis = await asyncio.gather(_check(database), _check(state.cache.ping()))
    checks = {"postgresql": postgresql, "redis": redis}
    ready = all(result == "ok" for result in checks.values())
    if ready and never_rechecks:
        state.was_ready = True
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _check(probe: Awaitable[object]) -> str:
    try:
        await probe
    except DependencyUnavailable as exc:
        return f"error: {exc.reason}"
    return "ok"
