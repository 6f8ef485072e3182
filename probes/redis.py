"""Chaos Toolkit probes of the target's Redis: key TTL and age, memory, hits, ops/s, write latency.

They connect with the ``redis_url`` credential (never shown). The key age is
what the contract lets us know: the TTL a key is written with (``metrics:hourly:*``
25 h, ``orders:recent`` 2 h) minus the TTL it has left; a key written without
a TTL has no known age (None).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

import redis
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday.cachekeys import contract_keys
from gameday.target import load_secrets

__all__ = [
    "key_ages",
    "redis_memory",
    "redis_stats",
    "redis_write_latency",
    "writes_refused_for_memory",
]
logger = logging.getLogger("chaostoolkit")

CONTRACT_TTLS = {"metrics:hourly:*": 25 * 3600, "orders:recent": 2 * 3600}
SCRATCH_PREFIX = "coffee-chaos:probe:"
MAX_SAMPLES = 10000
MAX_WINDOW_S = 3600


def key_ages(
    keys: list[str] | None = None,
    written_ttls: dict[str, int] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """TTL left and age (s) of each key (default: the contract's keys for this hour).

    ``written_ttls`` maps key patterns to the TTL each is written with (default the
    contract's). Each key reads ``{"exists", "ttl_s", "age_s"}``; ``ttl_s`` None means
    no expiry, ``age_s`` None means unknown.
    """
    chosen = keys or contract_keys()
    patterns = CONTRACT_TTLS if written_ttls is None else written_ttls
    with _redis(configuration, secrets, "read key TTLs") as client:
        with client.pipeline(transaction=False) as pipe:
            for key in chosen:
                pipe.pttl(key)
            ttls = pipe.execute()
    result = {}
    for key, pttl in zip(chosen, ttls, strict=True):
        written = next((ttl for pattern, ttl in patterns.items() if fnmatch(key, pattern)), None)
        ttl_s = None if pttl < 0 else round(pttl / 1000, 3)
        age_s = round(written - ttl_s, 3) if written is not None and ttl_s is not None else None
        result[key] = {"exists": pttl != -2, "ttl_s": ttl_s, "age_s": age_s}
    return result


def redis_memory(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Redis's used, RSS and peak memory (bytes), its limit (0: none), and its key count."""
    with _redis(configuration, secrets, "read INFO memory") as client:
        info = client.info("memory")
        keys = client.dbsize()
    return {
        "used_memory_bytes": int(info["used_memory"]),
        "used_memory_rss_bytes": int(info["used_memory_rss"]),
        "used_memory_peak_bytes": int(info["used_memory_peak"]),
        "maxmemory_bytes": int(info.get("maxmemory", 0)),
        "keys": int(keys),
    }


def redis_stats(
    window_s: float = 0, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Keyspace hits and misses, hit ratio and commands per second.

    With ``window_s`` 0 the figures are Redis's totals since it started (ops/s is its
    own instantaneous estimate); otherwise they are measured over the next ``window_s``.
    """
    if not 0 <= window_s <= MAX_WINDOW_S:
        raise ActivityFailed(f"window_s must be in [0, {MAX_WINDOW_S}], got {window_s!r}")
    with _redis(configuration, secrets, "read INFO stats") as client:
        first = client.info("stats")
        started = time.monotonic()
        if window_s:
            time.sleep(window_s)
            last = client.info("stats")
        elapsed = time.monotonic() - started
    if not window_s:
        hits, misses = int(first["keyspace_hits"]), int(first["keyspace_misses"])
        ops_per_s = float(first["instantaneous_ops_per_sec"])
    else:
        hits = int(last["keyspace_hits"]) - int(first["keyspace_hits"])
        misses = int(last["keyspace_misses"]) - int(first["keyspace_misses"])
        commands = int(last["total_commands_processed"]) - int(first["total_commands_processed"])
        ops_per_s = round(commands / elapsed, 2)
    return {
        "window_s": round(elapsed, 3) if window_s else 0,
        "hits": hits,
        "misses": misses,
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "ops_per_s": ops_per_s,
    }


def redis_write_latency(
    samples: int = 100,
    interval_s: float = 0.05,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Time ``samples`` writes (SET of a scratch key that expires in 60 s, then DEL):
    p50/p99/max in ms, as any client of the target's Redis sees them."""
    if not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ActivityFailed(f"samples must be a whole number from 1 to {MAX_SAMPLES}")
    if not 0 <= interval_s <= 10:
        raise ActivityFailed(f"interval_s must be in [0, 10], got {interval_s!r}")
    key = f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"
    timings = []
    with _redis(configuration, secrets, "time writes") as client:
        try:
            for _ in range(samples):
                started = time.perf_counter()
                client.set(key, "x", ex=60)
                timings.append((time.perf_counter() - started) * 1000)
                time.sleep(interval_s)
        finally:
            client.delete(key)
    timings.sort()
    return {
        "samples": samples,
        "p50_ms": round(timings[len(timings) // 2], 3),
        "p99_ms": round(timings[min(len(timings) - 1, int(0.99 * len(timings)))], 3),
        "max_ms": round(timings[-1], 3),
    }


def writes_refused_for_memory(
    within_s: float = 15, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Redis refuses a client's write with OOM within ``within_s`` (its ``errorstat_OOM``
    count grows: a full Redis, the aggregator's next pass refused), and is over its limit."""
    if not 0 < within_s <= MAX_WINDOW_S:
        raise ActivityFailed(f"within_s must be in (0, {MAX_WINDOW_S}], got {within_s!r}")
    with _redis(configuration, secrets, "read INFO errorstats") as client:
        first = _oom_refusals(client)
        started = time.monotonic()
        while (refused := _oom_refusals(client) - first) == 0:
            if time.monotonic() - started >= within_s:
                memory = client.info("memory")
                raise ActivityFailed(
                    unmet(
                        f"a write refused with OOM within {within_s} s",
                        f"none (used {memory['used_memory']} of maxmemory {memory['maxmemory']})",
                    )
                )
            time.sleep(0.2)
        memory = client.info("memory")
    return {
        "refused": refused,
        "seconds": round(time.monotonic() - started, 1),
        "used_memory_bytes": int(memory["used_memory"]),
        "maxmemory_bytes": int(memory["maxmemory"]),
    }


def _oom_refusals(client: redis.Redis) -> int:
    return int(client.info("errorstats").get("errorstat_OOM", {}).get("count", 0))


@contextmanager
def _redis(configuration: Configuration, secrets: Secrets, what: str) -> Iterator[redis.Redis]:
    with engine_call(f"{what} in Redis", configuration) as target:
        url = load_secrets(target, secrets).get("redis_url")
    if not url:
        raise ActivityFailed(f"Redis: cannot {what}: no redis_url credential")
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        yield client
    except redis.RedisError as exc:
        raise ActivityFailed(f"Redis: cannot {what}: {_sanitise(exc, url)}") from None
    finally:
        client.close()


def _sanitise(exc: Exception, url: str) -> str:
    """The error's text without the URL or its password."""
    message = str(exc) or type(exc).__name__
    for secret in (url, urlsplit(url).password):
        if secret:
            message = message.replace(secret, "***")
    return message
