"""POST /api/v1/order: validate, commit to PostgreSQL, then answer."""

from __future__ import annotations

import hashlib
import time

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from psycopg import sql
from pydantic import ValidationError
from starlette.responses import JSONResponse

from ..cache_keys import iso_utc
from ..models import OrderIn, RawOrderIn
from ..telemetry import ORDER_VALUE, ORDERS_CREATED

router = APIRouter()
API_VERSION = "v1"
BLOCKING_SECONDS = 0.1  # the blocking-handler flaw's synchronous pause
HASH_ROUNDS = 150_000  # the cpu-heavy-handler flaw's PBKDF2 rounds per order (~30 ms of CPU)

INSERT = "INSERT INTO {schema}.orders (drink, store, price, timestamp) VALUES (%s, %s, %s, %s) RETURNING id"


def insert_statement(schema: str) -> sql.Composed:
    return sql.SQL(INSERT).format(schema=sql.Identifier(schema))


@router.post("/api/v1/order")
async def create_order(request: Request) -> JSONResponse:
    """Store one order; 200 with the row only once it is committed."""
    body = await request.body()
    flawed = request.app.state.settings.flaw
    model = RawOrderIn if flawed("raw-order-labels") else OrderIn
    try:
        order = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None
    price = order.price_cents()
    timestamp = order.timestamp_utc()
    state = request.app.state
    if flawed("blocking-handler"):
        time.sleep(BLOCKING_SECONDS)  # the flaw: a synchronous call inside async def
    if flawed("cpu-heavy-handler"):  # the flaw: CPU-bound work per order, in the event loop
        hashlib.pbkdf2_hmac("sha256", body, b"coffee-chaos", HASH_ROUNDS)
    values = (order.drink, order.store, price, timestamp)
    if flawed("orders-written-behind"):
        order_id = await state.write_behind.add(values)
    else:
        (order_id,) = await state.db.fetchone(state.insert_order, values)
    ORDERS_CREATED.labels(order.drink, order.store, API_VERSION).inc()
    ORDER_VALUE.labels(order.store).inc(float(price))
    return JSONResponse(
        {
            "id": order_id,
            "drink": order.drink,
            "store": order.store,
            "price": float(price),
            "timestamp": iso_utc(timestamp),
        }
    )
