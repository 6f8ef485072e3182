"""GET /api/dashboard: the aggregator's cached figures, never PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..dashboard_view import read_dashboard

router = APIRouter()


@router.get("/api/dashboard")
async def dashboard(request: Request) -> dict[str, Any]:
    """The cached dashboard; 503 naming redis when Redis cannot answer."""
    state = request.app.state
    return await read_dashboard(state.cache, missing_raises=state.settings.flaw("cold-cache-crash"))
