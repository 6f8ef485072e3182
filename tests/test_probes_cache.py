"""probes.cache: TTLs of the contract's Redis keys, read from the real Redis."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from chaoslib.exceptions import ActivityFailed

from gameday.cachekeys import contract_keys
from probes import cache

SECRETS = Path("/etc/coffee-chaos/secrets.json")


def test_contract_keys_use_the_current_utc_hour():
    now = datetime(2026, 1, 1, 17, 5, tzinfo=UTC)
    assert contract_keys(now) == ["metrics:hourly:17", "metrics:top5", "orders:recent"]


@pytest.mark.lab
def test_ttls_of_present_missing_and_persistent_keys():
    client = redis.Redis.from_url(json.loads(SECRETS.read_text())["redis_url"], socket_timeout=3)
    expiring, persistent = f"test:cache:{uuid.uuid4().hex}", f"test:cache:{uuid.uuid4().hex}"
    try:
        client.set(expiring, "1", ex=120)
        client.set(persistent, "1")
        ttls = cache.cache_ttls([expiring, persistent, "test:cache:absent"])
    finally:
        client.delete(expiring, persistent)
        client.close()
    assert 110 <= ttls[expiring] <= 120
    assert ttls[persistent] is None
    assert ttls["test:cache:absent"] == "missing"


def test_an_unreachable_redis_is_named(tmp_path):
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps({"api_url": "http://127.0.0.1:8005", "services": {}}))
    with pytest.raises(ActivityFailed) as exc:
        cache.cache_ttls(
            configuration={"target_file": str(target_file)},
            secrets={"coffee": {"postgres_dsn": "x", "redis_url": "redis://127.0.0.1:1/0"}},
        )
    assert "could not read cache TTLs from Redis: ConnectionError" in str(exc.value)
