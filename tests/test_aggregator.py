"""The reference café's aggregator: all keys in one MULTI/EXEC, with the contract's TTLs.

The lab's `aggregator` program is stopped during each test (so only the test's own
aggregator writes) and started again afterwards.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
import requests
from cafe_helpers import (
    API_URL,
    CONTRACT_KEYS,
    connect_redis,
    ensure_running,
    metric_value,
    start_aggregator,
    supervisorctl,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.lab

METRICS_PORT = "18096"
METRICS_URL = f"http://127.0.0.1:{METRICS_PORT}/metrics"


@pytest.fixture
def cache() -> Iterator[redis.Redis]:
    """Redis, with the lab aggregator stopped for the test and started again after it."""
    wait_ready()
    supervisorctl("stop", "aggregator")
    client = connect_redis()
    try:
        yield client
    finally:
        client.close()
        ensure_running("aggregator")


@pytest.fixture
def aggregators() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Aggregator processes a test starts; any still alive is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def keys_now(client: redis.Redis) -> dict[str, bytes | None]:
    hour = datetime.now(UTC).hour
    names = [*CONTRACT_KEYS, f"metrics:hourly:{hour}"]
    return dict(zip(names, client.mget(names), strict=True))


def metrics_text() -> str:
    return requests.get(METRICS_URL, timeout=2).text


def wait_for_metric(process: subprocess.Popen[bytes], sample: str, expected: float) -> None:
    """Wait until the test's aggregator reports ``sample == expected``; fail on its exit."""

    def reached() -> bool:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the aggregator exited with {process.returncode}: {error[-2000:]}")
        return metric_value(metrics_text(), sample) == expected

    try:
        wait_until(reached, timeout=15)
    except AssertionError:
        if process.poll() is not None:
            reached()
        raise


def place_order() -> None:
    order = {
        "drink": "americano",
        "store": "uptown",
        "price": 3.25,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    assert requests.post(f"{API_URL}/api/v1/order", json=order, timeout=5).status_code == 200


def test_a_pass_writes_every_key_with_the_contract_ttls(
    cache: redis.Redis, aggregators: list[subprocess.Popen[bytes]]
) -> None:
    place_order()
    hour_key = f"metrics:hourly:{datetime.now(UTC).hour}"
    cache.delete(*CONTRACT_KEYS, hour_key)
    aggregators.append(start_aggregator(AGGREGATOR_METRICS_PORT=METRICS_PORT))
    wait_until(
        lambda: metric_value(metrics_text(), 'aggregator_passes_total{result="success"}'), 15
    )

    assert 25 * 3600 - 30 <= cache.ttl(hour_key) <= 25 * 3600
    assert 2 * 3600 - 30 <= cache.ttl("orders:recent") <= 2 * 3600
    assert cache.ttl("metrics:top5") == -1
    hourly = json.loads(cache.get(hour_key))
    assert set(hourly) == {"top_drinks", "revenue", "order_count"}
    assert "americano" in hourly["top_drinks"] and hourly["order_count"] >= 1
    top5 = json.loads(cache.get("metrics:top5"))
    assert "americano" in top5 and len(top5) <= 5
    recent = json.loads(cache.get("orders:recent"))
    assert 1 <= len(recent) <= 50
    assert set(recent[0]) == {"id", "drink", "store", "price", "timestamp"}
    last = float(cache.get("aggregator:last_success"))
    assert abs(last - datetime.now(UTC).timestamp()) < 15
    assert metric_value(metrics_text(), "aggregator_last_success_timestamp_seconds") == last


def _hold_a_pass(aggregators: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = start_aggregator(AGGREGATOR_METRICS_PORT=METRICS_PORT, AGGREGATOR_HOLD_SECONDS="30")
    aggregators.append(process)
    wait_for_metric(process, "aggregator_pass_in_progress", 1.0)
    return process


def test_a_pass_killed_mid_way_leaves_the_previous_values_whole(
    cache: redis.Redis, aggregators: list[subprocess.Popen[bytes]]
) -> None:
    cache.set("aggregator:last_success", "1.0")
    place_order()  # the pass would change the figures, were it allowed to write
    before = keys_now(cache)
    process = _hold_a_pass(aggregators)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert keys_now(cache) == before


def test_sigterm_ends_a_held_pass_cleanly_without_writing(
    cache: redis.Redis, aggregators: list[subprocess.Popen[bytes]]
) -> None:
    cache.set("aggregator:last_success", "1.0")
    before = keys_now(cache)
    process = _hold_a_pass(aggregators)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert keys_now(cache) == before
    assert b"stopped" in process.stderr.read()
