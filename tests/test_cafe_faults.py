"""The reference café under dependency outages: Redis, then PostgreSQL, stopped by supervisor.

Each test restores the service it stopped in ``finally``, and checks that the API recovered
by itself (same pid) within 5 s of the dependency's return.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from cafe_helpers import API_URL, api_pid, ensure_running, supervisorctl, wait_ready, wait_until

pytestmark = pytest.mark.lab

RECOVERY_SECONDS = 5


def order() -> dict[str, object]:
    return {
        "drink": "latte",
        "store": "downtown",
        "price": 4.75,
        "timestamp": datetime.now(UTC).isoformat(),
    }


@pytest.fixture
def stopped() -> Iterator[list[str]]:
    """Programs a test stops; all are started again whatever happens."""
    wait_ready()
    programs: list[str] = []
    try:
        yield programs
    finally:
        ensure_running(*programs)
        wait_ready()


def stop(program: str, stopped: list[str]) -> None:
    stopped.append(program)
    assert "stopped" in supervisorctl("stop", program), f"could not stop {program}"


def start_and_time_recovery(program: str) -> float:
    assert "started" in supervisorctl("start", program), f"could not start {program}"
    started = time.monotonic()
    wait_until(
        lambda: requests.get(f"{API_URL}/readyz", timeout=3).status_code == 200,
        timeout=RECOVERY_SECONDS,
        interval=0.1,
    )
    return time.monotonic() - started


def test_redis_outage_fails_gracefully_and_recovers(stopped: list[str]) -> None:
    serving_pid = api_pid()
    stop("redis", stopped)

    ready = requests.get(f"{API_URL}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("error")
    assert ready.json()["checks"]["postgresql"] == "ok"

    began = time.monotonic()
    dashboard = requests.get(f"{API_URL}/api/dashboard", timeout=5)
    assert time.monotonic() - began < 2
    assert dashboard.status_code == 503
    assert dashboard.json() == {"detail": "cache unavailable", "dependency": "redis"}

    assert requests.post(f"{API_URL}/api/v1/order", json=order(), timeout=5).status_code == 200

    start_and_time_recovery("redis")
    assert requests.get(f"{API_URL}/api/dashboard", timeout=5).status_code == 200
    assert api_pid() == serving_pid, "the API was restarted instead of recovering"


def test_postgresql_outage_refuses_orders_fast_and_recovers(stopped: list[str]) -> None:
    assert requests.post(f"{API_URL}/api/v1/order", json=order(), timeout=5).status_code == 200
    wait_until(
        lambda: requests.get(f"{API_URL}/api/dashboard", timeout=5).json()["recent_orders"],
        timeout=15,
    )
    serving_pid = api_pid()
    stop("postgresql", stopped)

    for _ in range(3):  # stale pooled connections and an empty pool both answer 503
        began = time.monotonic()
        response = requests.post(f"{API_URL}/api/v1/order", json=order(), timeout=5)
        elapsed = time.monotonic() - began
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "database unavailable", "dependency": "postgresql"}
        assert elapsed < 2, f"an order took {elapsed:.2f}s to be refused"

    ready = requests.get(f"{API_URL}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["postgresql"].startswith("error")

    dashboard = requests.get(f"{API_URL}/api/dashboard", timeout=5)
    assert dashboard.status_code == 200
    assert dashboard.json()["recent_orders"], "the cached dashboard was not served"

    start_and_time_recovery("postgresql")
    assert requests.post(f"{API_URL}/api/v1/order", json=order(), timeout=5).status_code == 200
    assert api_pid() == serving_pid, "the API was restarted instead of recovering"
