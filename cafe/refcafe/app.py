"""The FastAPI application: routers, middlewares, error handlers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from .broadcaster import Broadcaster
from .cache import Cache
from .dashboard_view import read_dashboard
from .db import Database
from .errors import DependencyUnavailable, dependency_unavailable_handler
from .flaws import SLOW_START_S, STARTING_500_S
from .gcpause import freeze_startup_objects, time_collections
from .middleware import BodySizeLimit, FailWhileStarting, RequestMetrics, RetainPerRequest
from .routers import dashboard, health, metrics, orders, websocket
from .settings import Settings
from .writebehind import WriteBehind


def create_app(settings: Settings) -> FastAPI:
    """Build the café; dependencies are reached lazily, so it starts even when they are down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.flaw("slow-start"):
            await asyncio.sleep(SLOW_START_S)  # uvicorn binds once the lifespan has started
        db = Database(settings)
        cache = Cache(settings)
        await db.open()
        broadcaster = Broadcaster(
            lambda: read_dashboard(cache),
            settings.dashboard_update_interval,
            stops_on_error=settings.flaw("websocket-stops-after-redis-blip"),
            serial=settings.flaw("serial-broadcast"),
        )
        app.state.db = db
        app.state.cache = cache
        app.state.broadcaster = broadcaster
        app.state.insert_order = orders.insert_statement(settings.postgres_schema)
        tasks = [asyncio.create_task(broadcaster.run())]
        if settings.flaw("orders-written-behind"):
            app.state.write_behind = WriteBehind(db, settings.postgres_schema)
            tasks.append(asyncio.create_task(app.state.write_behind.run()))
        time_collections()
        freeze_startup_objects()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await cache.close()
            await db.close()

    app = FastAPI(
        title="Coffee Chaos reference café",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    for router in (
        orders.router,
        dashboard.router,
        websocket.router,
        health.router,
        metrics.router,
    ):
        app.include_router(router)
    if not settings.flaw("500-on-dependency-failure"):  # else: unhandled, a plain-text 500
        app.add_exception_handler(DependencyUnavailable, dependency_unavailable_handler)
    if settings.flaw("memory-per-request"):
        app.add_middleware(RetainPerRequest)
    if settings.flaw("500-while-starting"):
        app.add_middleware(FailWhileStarting, for_s=STARTING_500_S)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app
