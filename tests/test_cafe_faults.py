"""The reference café under dependency outages: Redis, then PostgreSQL, stopped by supervisor,
and PostgreSQL's connections stalled by the lab's fault proxy (a ``timeout`` toxic).

Each test restores the service it stopped (or removes the toxic it added) in ``finally``, and
checks that the API recovered by itself (same pid) within 5 s of the dependency's return.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from cafe_helpers import (
    API_URL,
    api_pid,
    ensure_running,
    start_aggregator,
    supervisorctl,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.lab

RECOVERY_SECONDS = 5
FAULTPROXY_URL = os.environ.get("CAFE_FAULTPROXY_URL", "http://127.0.0.1:8474")
PROXIED_POSTGRES_PORT = os.environ.get("CAFE_PROXIED_POSTGRES_PORT", "15432")
STALL_TOXIC = "test-cafe-faults-stall"
LATENCY_TOXIC = "test-cafe-faults-latency"
AGGREGATOR_METRICS_URL = "http://127.0.0.1:18098/metrics"


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


@contextlib.contextmanager
def stalled_postgresql() -> Iterator[None]:
    """Hold every byte PostgreSQL sends through the fault proxy; the toxic goes in finally."""
    added = requests.post(
        f"{FAULTPROXY_URL}/proxies/postgresql/toxics",
        json={
            "name": STALL_TOXIC,
            "type": "timeout",
            "stream": "downstream",
            "attributes": {"timeout": 0},
        },
        timeout=3,
    )
    try:
        assert added.status_code == 200, f"the fault proxy refused the toxic: {added.text}"
        yield
    finally:
        remove_stall()


@pytest.fixture
def stall() -> Iterator[None]:
    wait_ready()
    with stalled_postgresql():
        yield


def remove_stall() -> None:
    """Delete the toxic (already gone is fine)."""
    gone = requests.delete(f"{FAULTPROXY_URL}/proxies/postgresql/toxics/{STALL_TOXIC}", timeout=3)
    assert gone.status_code in (204, 404), f"could not remove the stall: {gone.text}"


def timed_order() -> tuple[requests.Response, float]:
    began = time.monotonic()
    response = requests.post(f"{API_URL}/api/v1/order", json=order(), timeout=15)
    return response, time.monotonic() - began


def test_postgresql_stall_refuses_orders_fast_and_recovers(stall: None) -> None:
    serving_pid = api_pid()

    answers = [timed_order() for _ in range(3)]  # pooled connections that stall
    with ThreadPoolExecutor(max_workers=25) as pool:  # more than the pool holds
        answers += list(pool.map(lambda _: timed_order(), range(25)))
    for response, elapsed in answers:
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "database unavailable", "dependency": "postgresql"}
        assert elapsed < 2, f"an order took {elapsed:.2f}s to be refused during the stall"

    began = time.monotonic()
    ready = requests.get(f"{API_URL}/readyz", timeout=15)
    elapsed = time.monotonic() - began
    assert elapsed < 2, f"/readyz took {elapsed:.2f}s during the stall"
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgresql"].startswith("error")
    assert ready.json()["checks"]["redis"] == "ok"

    remove_stall()
    wait_until(
        lambda: requests.get(f"{API_URL}/readyz", timeout=3).status_code == 200,
        timeout=RECOVERY_SECONDS,
        interval=0.1,
    )
    response, _ = timed_order()
    assert response.status_code == 200, response.text
    assert api_pid() == serving_pid, "the API was restarted instead of recovering"


def test_every_order_takes_one_round_trip_behind_a_slow_network() -> None:
    """Fresh connections (the API restarted), 60 ms on each PostgreSQL reply: no order pays a
    second round trip (psycopg prepared a statement on a connection's sixth use of it, one
    order in fifty twice as slow, before the café turned server-side prepare off)."""
    assert "started" in supervisorctl("restart", "api")
    wait_ready()
    added = requests.post(
        f"{FAULTPROXY_URL}/proxies/postgresql/toxics",
        json={"name": LATENCY_TOXIC, "type": "latency", "attributes": {"latency": 60}},
        timeout=3,
    )
    assert added.status_code == 200, f"the fault proxy refused the toxic: {added.text}"
    try:
        timings = []
        for _ in range(60):  # ten uses of each of the pool's connections, at least
            response, elapsed = timed_order()
            assert response.status_code == 200, response.text
            timings.append(elapsed)
    finally:
        gone = requests.delete(
            f"{FAULTPROXY_URL}/proxies/postgresql/toxics/{LATENCY_TOXIC}", timeout=3
        )
        assert gone.status_code in (204, 404), gone.text
    median = sorted(timings)[len(timings) // 2]
    assert median >= 0.06, f"the toxic did not slow the orders (median {median * 1000:.0f} ms)"
    assert max(timings) < 1.5 * median, [round(t * 1000) for t in timings]


def aggregator_passes(result: str) -> float:
    text = requests.get(AGGREGATOR_METRICS_URL, timeout=2).text
    found = re.search(rf'^aggregator_passes_total{{result="{result}"}} (\S+)$', text, re.M)
    assert found, f"no aggregator_passes_total{{result={result!r}}} in the metrics"
    return float(found.group(1))


@pytest.fixture
def proxied_aggregator() -> Iterator[subprocess.Popen[bytes]]:
    """An aggregator of the repo whose PostgreSQL connection goes through the fault proxy."""
    process = start_aggregator(
        POSTGRES_PORT=PROXIED_POSTGRES_PORT,
        AGGREGATOR_INTERVAL="1",
        AGGREGATOR_HOLD_SECONDS="0",
        CONNECTION_MAX_RETRIES="0",
        AGGREGATOR_METRICS_PORT=AGGREGATOR_METRICS_URL.rsplit(":", 1)[1].split("/")[0],
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def test_aggregator_pass_on_a_stalled_connection_fails_in_bounded_time(
    proxied_aggregator: subprocess.Popen[bytes],
) -> None:
    wait_until(lambda: aggregator_passes("success") >= 1, timeout=15)
    failures = aggregator_passes("failure")
    with stalled_postgresql():
        # statement_timeout 1 s (never answered) + DEPENDENCY_TIMEOUT 1 s, plus the pass interval
        wait_until(lambda: aggregator_passes("failure") > failures, timeout=5, interval=0.1)
    successes = aggregator_passes("success")
    wait_until(lambda: aggregator_passes("success") > successes, timeout=10)
    assert proxied_aggregator.poll() is None, "the aggregator died instead of retrying"
