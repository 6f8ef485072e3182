"""The API's Prometheus metrics (names and labels fixed by the target contract)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# The contract's buckets, plus a boundary at every bound the experiments assert (0.2, 1.5, 2 s),
# so the API's own view of a threshold is exact, not interpolated inside a bucket.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered.", ["method", "endpoint", "status_code"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "endpoint"],
    buckets=HTTP_BUCKETS,
)
ORDERS_CREATED = Counter(
    "orders_created", "Orders committed to PostgreSQL.", ["drink", "store", "version"]
)
ORDER_VALUE = Counter("order_value", "Dollars of committed orders.", ["store"])
WEBSOCKET_CONNECTIONS = Counter(
    "websocket_connections", "WebSocket connections opened and closed.", ["action"]
)
WEBSOCKETS_OPEN = Gauge("websocket_connections_open", "WebSocket connections open now.")
DB_STATUS = Counter("db_connection_status", "PostgreSQL operations by outcome.", ["status"])
REDIS_STATUS = Counter("redis_connection_status", "Redis operations by outcome.", ["status"])
DB_POOL_SIZE = Gauge("db_pool_size", "Connections in the pool (idle, in use, or connecting).")
DB_POOL_AVAILABLE = Gauge("db_pool_available", "Idle connections ready in the pool.")
DB_POOL_IN_USE = Gauge("db_pool_in_use", "Connections lent to requests.")
DB_POOL_WAITING = Gauge("db_pool_waiting", "Requests waiting for a pool connection.")
AGGREGATOR_LAST_SUCCESS = Gauge(
    "aggregator_last_success_timestamp_seconds",
    "Unix time of the aggregator's last complete pass, read from Redis (NaN if unknown).",
)

for _action in ("connected", "disconnected"):
    WEBSOCKET_CONNECTIONS.labels(action=_action)
for _status in ("success", "failure"):
    DB_STATUS.labels(status=_status)
    REDIS_STATUS.labels(status=_status)
