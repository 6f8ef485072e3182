"""GET /metrics: Prometheus text, with pool and aggregator gauges refreshed at scrape time."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ..cache import Cache
from ..cache_keys import LAST_SUCCESS_KEY
from ..errors import DependencyUnavailable
from ..telemetry import (
    AGGREGATOR_LAST_SUCCESS,
    DB_POOL_AVAILABLE,
    DB_POOL_IN_USE,
    DB_POOL_SIZE,
    DB_POOL_WAITING,
)

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    stats = state.db.stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL_SIZE.set(size)
    DB_POOL_AVAILABLE.set(available)
    DB_POOL_IN_USE.set(max(0, size - available))
    DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
    AGGREGATOR_LAST_SUCCESS.set(await _last_success(state.cache))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _last_success(cache: Cache) -> float:
    try:
        raw = await cache.get(LAST_SUCCESS_KEY)
    except DependencyUnavailable:
        return math.nan
    try:
        return float(raw) if raw is not None else math.nan
    except ValueError:
        return math.nan
