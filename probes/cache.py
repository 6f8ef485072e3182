"""Chaos Toolkit probe: time-to-live of the dashboard cache keys in Redis (optional).

The contract names the keys the aggregator writes (``metrics:hourly:{hour}``
for the current UTC hour, ``metrics:top5``, ``orders:recent``); this probe
reads them with the ``redis_url`` credential. It needs direct access to the
target's Redis, which a user's own deployment may not give: hence optional.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from gameday.cachekeys import contract_keys
from gameday.target import load_secrets

__all__ = ["cache_ttls"]
logger = logging.getLogger("chaostoolkit")


def cache_ttls(
    keys: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Seconds each key has left: ``None`` never expires, ``"missing"`` does not exist."""
    with engine_call("read cache TTLs", configuration) as target:
        url = load_secrets(target, secrets).get("redis_url")
    if not url:
        raise ActivityFailed("could not read cache TTLs: no redis_url credential")
    chosen = keys or contract_keys()
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        ttls = [client.ttl(key) for key in chosen]
    except redis.RedisError as exc:
        raise ActivityFailed(
            f"could not read cache TTLs from Redis: {type(exc).__name__}"
        ) from None
    finally:
        client.close()
    return {
        key: "missing" if ttl == -2 else None if ttl == -1 else int(ttl)
        for key, ttl in zip(chosen, ttls, strict=True)
    }
