"""The reference café's API against the running lab (real PostgreSQL, Redis, supervisor)."""

from __future__ import annotations

import gc
import http.client
import json
import random
import select
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
import websocket
from cafe_helpers import API_URL, CAFE_DIR, WS_URL, connect_db, wait_ready, wait_until

sys.path.insert(0, str(CAFE_DIR))

from refcafe import gcpause  # noqa: E402
from refcafe.settings import Settings, SettingsError  # noqa: E402

_READY: list[bool] = []


@pytest.fixture(autouse=True)
def _lab_ready(request: pytest.FixtureRequest) -> None:
    """Lab tests wait (once) for the API to be ready: another test may have a dependency down."""
    if request.node.get_closest_marker("lab") and not _READY:
        wait_ready()
        _READY.append(True)


CONTRACT_METRICS = (
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "orders_created_total",
    "order_value_total",
    "websocket_connections_total",
    "db_connection_status_total",
    "redis_connection_status_total",
    "db_pool_size",
    "db_pool_in_use",
    "db_pool_waiting",
    "aggregator_last_success_timestamp_seconds",
    "websocket_connections_open",
)


def unique_price() -> float:
    """A price in a range no load generator uses, so its row can be found (or not)."""
    return round(random.uniform(7000, 9000), 2)


def unique_timestamp() -> str:
    moment = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(microseconds=random.randrange(10**12))
    return moment.isoformat()


def rows_matching(price: float, timestamp: str | None = None) -> int:
    stamp = datetime.fromisoformat(timestamp).replace(tzinfo=None) if timestamp else None
    with connect_db() as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM coffee_rt.orders WHERE price = %s OR timestamp = %s",
            (price, stamp),
        ).fetchone()
    return count


def valid_order(**changes: object) -> dict[str, object]:
    order = {
        "drink": "latte",
        "store": "uptown",
        "price": unique_price(),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    order.update(changes)
    return order


@pytest.mark.lab
def test_livez_answers_ok() -> None:
    response = requests.get(f"{API_URL}/livez", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.lab
def test_readyz_reports_both_dependencies() -> None:
    response = requests.get(f"{API_URL}/readyz", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"postgresql": "ok", "redis": "ok"},
    }


@pytest.mark.lab
def test_order_is_committed_to_postgresql() -> None:
    order = valid_order(drink="americano", store="southend", timestamp="2024-05-01T13:14:15+02:00")
    response = requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "drink", "store", "price", "timestamp"}
    assert body["drink"] == "americano" and body["store"] == "southend"
    assert body["price"] == order["price"]
    assert body["timestamp"] == "2024-05-01T11:14:15+00:00"
    with connect_db() as conn:
        row = conn.execute(
            "SELECT drink, store, price, timestamp FROM coffee_rt.orders WHERE id = %s",
            (body["id"],),
        ).fetchone()
    assert row is not None, f"order {body['id']} was acknowledged but is not in PostgreSQL"
    drink, store, price, timestamp = row
    assert (drink, store, float(price)) == ("americano", "southend", order["price"])
    assert timestamp == datetime(2024, 5, 1, 11, 14, 15)


INVALID = [
    ("drink", {"drink": "mocha"}),
    ("store", {"store": "airport"}),
    ("drink", {"drink": 3}),
    ("price", {"price": -1}),
    ("price", {"price": "4.50"}),
    ("price", {"price": True}),
    ("price", {"price": [4.5]}),
    ("price", {"price": 1e12}),
    ("timestamp", {"timestamp": "yesterday"}),
    ("timestamp", {"timestamp": 1700000000}),
    ("timestamp", {"timestamp": "2024-13-45T99:00:00"}),
]


@pytest.mark.lab
@pytest.mark.parametrize(("field", "change"), INVALID, ids=[f"{f}={c}" for f, c in INVALID])
def test_invalid_field_is_refused_with_422_naming_it(field: str, change: dict) -> None:
    order = valid_order(timestamp=unique_timestamp())
    order.update(change)
    marker_price = order["price"] if field != "price" else unique_price()
    marker_time = order["timestamp"] if field != "timestamp" else unique_timestamp()
    response = requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5)
    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert rows_matching(marker_price, marker_time) == 0


@pytest.mark.lab
@pytest.mark.parametrize("missing", ["drink", "store", "price", "timestamp"])
def test_missing_field_is_refused_with_422_naming_it(missing: str) -> None:
    order = valid_order(timestamp=unique_timestamp())
    del order[missing]
    response = requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"] == ["body", missing] and e["type"] == "missing" for e in errors)
    assert rows_matching(order.get("price", -1), order.get("timestamp")) == 0


@pytest.mark.lab
@pytest.mark.parametrize("body", [b"{bad json", b"[1, 2]", b"", b"null"])
def test_malformed_body_is_refused_with_422(body: bytes) -> None:
    response = requests.post(
        f"{API_URL}/api/v1/order",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.lab
def test_body_over_64_kib_is_refused_with_413_by_length() -> None:
    order = valid_order(note="x" * 70_000)
    response = requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5)
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]
    assert rows_matching(order["price"]) == 0


@pytest.mark.lab
def test_body_over_64_kib_is_refused_with_413_when_streamed() -> None:
    order = valid_order(note="x" * 70_000)
    payload = json.dumps(order).encode()
    chunks = (payload[i : i + 8192] for i in range(0, len(payload), 8192))
    response = requests.post(
        f"{API_URL}/api/v1/order",
        data=chunks,  # a generator: chunked transfer, no Content-Length
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 413
    assert rows_matching(order["price"]) == 0


@pytest.mark.lab
def test_an_idle_keep_alive_connection_outlives_the_longest_customer_pause() -> None:
    # Customers pause up to 10 s between orders on the same connection; a server closing
    # idle connections sooner (uvicorn's default is 5 s) loses the order sent as it closes:
    # a POST is never retried (seen as one "HTTP 0" in a 500-user ramp).
    connection = http.client.HTTPConnection(urlsplit(API_URL).netloc, timeout=5)
    try:
        assert _post_order(connection) == 200
        sock = connection.sock
        time.sleep(10.5)
        closed, _, _ = select.select([sock], [], [], 0)
        assert not closed, "the café closed an idle keep-alive connection within 10.5 s"
        assert _post_order(connection) == 200
        assert connection.sock is sock, "the second order needed a new connection"
    finally:
        connection.close()


def _post_order(connection: http.client.HTTPConnection) -> int:
    body = json.dumps(valid_order())
    connection.request("POST", "/api/v1/order", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


@pytest.mark.lab
def test_dashboard_shows_a_new_order_after_an_aggregator_pass() -> None:
    order = valid_order(drink="cappuccino", store="central")
    created = requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5).json()

    def includes_order() -> dict | None:
        body = requests.get(f"{API_URL}/api/dashboard", timeout=5).json()
        return body if any(o["id"] == created["id"] for o in body["recent_orders"]) else None

    body = wait_until(includes_order, timeout=15, interval=0.5)
    assert set(body) == {"current_hour", "top5_drinks", "recent_orders", "server_timestamp"}
    hour = body["current_hour"]
    assert (
        hour["hour"] == datetime.now(UTC).hour or hour["hour"] == (datetime.now(UTC).hour - 1) % 24
    )
    assert isinstance(hour["top_drinks"], list) and "cappuccino" in hour["top_drinks"]
    assert hour["revenue"] >= order["price"] and hour["order_count"] >= 1
    assert "cappuccino" in body["top5_drinks"] and len(body["top5_drinks"]) <= 5
    assert len(body["recent_orders"]) <= 50
    assert set(body["recent_orders"][0]) == {"id", "drink", "store", "price", "timestamp"}
    datetime.fromisoformat(body["server_timestamp"])


@pytest.mark.lab
def test_websocket_pushes_on_connect_and_after_the_interval() -> None:
    ws = websocket.create_connection(WS_URL, timeout=15)
    try:
        first = json.loads(ws.recv())
        assert set(first) == {"current_hour", "top5_drinks", "recent_orders", "server_timestamp"}
        second = json.loads(ws.recv())
        assert second["server_timestamp"] > first["server_timestamp"]
    finally:
        ws.close()


@pytest.mark.lab
def test_metrics_expose_every_contract_metric_with_route_templates() -> None:
    requests.get(f"{API_URL}/livez", timeout=5)
    junk = uuid.uuid4().hex
    assert requests.get(f"{API_URL}/no/such/{junk}", timeout=5).status_code == 404
    response = requests.get(f"{API_URL}/metrics", timeout=5)
    assert response.status_code == 200
    text = response.text
    missing = [name for name in CONTRACT_METRICS if f"\n{name}" not in text]
    assert not missing, f"metrics missing from /metrics: {missing}"
    assert 'http_requests_total{endpoint="/livez",method="GET",status_code="200"}' in text
    assert 'endpoint="unmatched"' in text
    assert junk not in text, "a raw request path leaked into a metric label"
    assert 'http_request_duration_seconds_bucket{endpoint="/livez",le="0.005",method="GET"}' in text
    assert 'python_gc_pause_seconds_count{generation="2"}' in text, "GC pauses are not timed"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"POSTGRES_PORT": "fivefour"}, "POSTGRES_PORT='fivefour' is not an integer"),
        ({"APP_PORT": "70000"}, "APP_PORT=70000 is not a TCP port"),
        ({"DB_POOL_TIMEOUT": "-1"}, "DB_POOL_TIMEOUT='-1' is out of range"),
        ({"POSTGRES_SCHEMA": "coffee; drop"}, "POSTGRES_SCHEMA='coffee; drop' is not a plain"),
        ({"DB_POOL_MIN_SIZE": "30"}, "DB_POOL_MIN_SIZE (30) is larger than DB_POOL_MAX_SIZE (20)"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(env)
    assert named in str(exc.value)


def test_settings_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({"AGGREGATOR_HOLD_SECONDS": "0"})
    assert (settings.app_port, settings.postgres_schema) == (8005, "coffee_rt")
    assert (settings.db_pool_min_size, settings.db_pool_max_size) == (5, 20)
    assert settings.dashboard_update_interval == 10 and settings.max_body_bytes == 65536
    assert settings.keepalive_timeout == 75.0
    assert (settings.db_pool_timeout, settings.dependency_timeout) == (1.0, 1.0)


def test_every_garbage_collection_is_timed_by_generation() -> None:
    full = gcpause.GC_PAUSE.labels(generation="2")
    before = _histogram_count(full)
    gcpause.time_collections()
    gcpause.time_collections()  # idempotent: one callback, one observation per collection
    gc.collect()
    gc.collect()
    assert _histogram_count(full) == before + 2


def _histogram_count(child: object) -> float:
    (metric,) = child.collect()  # type: ignore[attr-defined]
    return next(s.value for s in metric.samples if s.name.endswith("_count"))


def test_startup_objects_are_frozen_out_of_full_collections() -> None:
    survivor = [object()]
    try:
        gcpause.freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert not any(o is survivor for o in gc.get_objects()), "a startup object is still walked"
        newcomer = [object()]
        assert any(o is newcomer for o in gc.get_objects()), "objects made later must be collected"
    finally:
        gc.unfreeze()
