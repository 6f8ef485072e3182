"""Switchable flaws: mistakes real systems make, turned on by CAFE_FLAWS (comma-separated).

Each flaw lets the toolkit prove that an experiment catches the mistake; every flaw is off
by default, and off it changes nothing. Each one's branch lives in the module it affects.
"""

from __future__ import annotations

SLOW_START_S = 12  # slow-start's warm-up: longer than the 10 s operators give a restart
STARTING_500_S = 5  # 500-while-starting's first seconds

FLAWS: dict[str, str] = {
    "readiness-never-rechecks": "/readyz checks the dependencies once, then answers 200 forever",
    "readiness-ignores-read-only": "/readyz checks that PostgreSQL answers, not that it takes writes",
    "500-on-dependency-failure": "a failing dependency answers 500 in plain text, not 503 naming it",
    "no-dependency-timeouts": "every wait on PostgreSQL or Redis is unbounded (an hour)",
    "redis-reads-unbounded": "the API's Redis calls wait for an answer without a bound",
    "postgres-statements-unbounded": "the API's statements wait for an answer without a deadline",
    "no-server-statement-timeout": "a statement the API gave up on runs on in PostgreSQL",
    "no-reconnect": "the API uses one PostgreSQL connection forever, even once it broke",
    "connection-per-request": "the API opens a PostgreSQL connection for each statement, no pool",
    "redis-breaker-never-closes": "the API stops calling Redis after its first Redis error",
    "aggregator-stops-after-redis-error": "the aggregator's loop ends on its first failed pass",
    "cache-written-key-by-key": "the aggregator writes one key at a time, holding between them",
    "cache-cleared-before-write": "the aggregator deletes the dashboard keys, then writes them",
    "raw-order-labels": "any drink and store string is stored and becomes a metric label",
    "memory-per-request": "the API keeps 100 KiB of every request it answers",
    "websocket-stops-after-redis-blip": "the WebSocket broadcaster ends on its first Redis error",
    "blocking-handler": "each order blocks the event loop for 100 ms",
    "cpu-heavy-handler": "each order hashes its body (PBKDF2, ~30 ms of CPU) in the event loop",
    "serial-broadcast": "the broadcaster sends to one socket at a time, 15 ms each",
    "cold-cache-crash": "GET /api/dashboard answers 500 while a cache key is missing",
    "slow-aggregation": "the aggregator runs every 3 x AGGREGATOR_INTERVAL",
    "table-locking-aggregation": "the aggregator's pass locks the orders table (SHARE) throughout",
    "aggregator-loads-every-order": "the aggregator fetches 30 days of orders and sums them in Python",
    "orders-written-behind": "an order is acknowledged at once and written a second later",
    "slow-start": f"the API warms up for {SLOW_START_S} s after it starts, before it listens",
    "500-while-starting": f"the API listens at once but answers 500 for its first {STARTING_500_S} s",
    "short-cache-ttl": "the dashboard keys expire after 2 x AGGREGATOR_INTERVAL",
}
