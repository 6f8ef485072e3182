"""Chaos Toolkit action: empty the dashboard cache (the contract's keys) in Redis.

The aggregator's next pass writes the keys again, so the drop is recorded in
the fault ledger as a ``service`` entry for the aggregator: its revert (start
the aggregator, a no-op when it runs) refills the cache, and the rollback
``actions.services.start_service("aggregator")`` resolves it.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday.cachekeys import contract_keys
from gameday.ledger import ledger_for
from gameday.target import load_secrets
from probes.http import endpoint_latency

__all__ = ["drop_dashboard_cache"]
logger = logging.getLogger("chaostoolkit")

DASHBOARD = "/api/dashboard"


@marks_faults
def drop_dashboard_cache(
    keys: list[str] | None = None,
    samples: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Delete ``keys`` (default: the contract's keys for this hour); returns how many existed.

    With ``samples``, times that many dashboard requests just before (warm cache) and just
    after (cold cache) the drop, and reports both and the cold/warm ratios of P50 and P99.
    """
    chosen = keys or contract_keys()
    warm = (
        endpoint_latency(DASHBOARD, samples=samples, configuration=configuration)
        if samples
        else None
    )
    with engine_call("drop the dashboard cache", configuration) as target:
        target.service("aggregator")
        url = load_secrets(target, secrets).get("redis_url")
        if not url:
            raise ActivityFailed("could not drop the dashboard cache: no redis_url credential")
        entry_id = ledger_for(target).record(
            "service",
            "aggregator",
            {"action": "start", "platform": target.platform},
            note=f"dropped the dashboard cache keys {', '.join(chosen)}; the next pass refills them",
        )
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        deleted = client.delete(*chosen)
    except redis.RedisError as exc:
        raise ActivityFailed(
            f"could not drop the dashboard cache in Redis: {type(exc).__name__}"
        ) from None
    finally:
        client.close()
    logger.info("dropped %d of the dashboard cache keys %s", deleted, chosen)
    result = {"keys": chosen, "deleted": int(deleted), "ledger_id": entry_id}
    if warm:
        cold = endpoint_latency(DASHBOARD, samples=samples, configuration=configuration)
        result.update(
            warm=warm,
            cold=cold,
            cold_to_warm_p50=_ratio(cold["p50_ms"], warm["p50_ms"]),
            cold_to_warm_p99=_ratio(cold["p99_ms"], warm["p99_ms"]),
        )
    return result


def _ratio(cold: float, warm: float) -> float | None:
    return round(cold / warm, 3) if warm else None
