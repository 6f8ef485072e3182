"""The dashboard body, built from the aggregator's Redis keys only."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from .cache import Cache
from .cache_keys import RECENT_KEY, TOP5_KEY, hourly_key, iso_utc

logger = logging.getLogger(__name__)


async def read_dashboard(cache: Cache, missing_raises: bool = False) -> dict[str, Any]:
    """The contract's dashboard body; empty values when the aggregator has not run yet
    (``missing_raises``, the cold-cache-crash flaw: a missing key raises instead)."""
    now = datetime.now(UTC)
    hourly, top5, recent = await cache.mget(hourly_key(now.hour), TOP5_KEY, RECENT_KEY)
    if missing_raises and None in (hourly, top5, recent):
        raise KeyError("a dashboard key is missing from the cache")
    hour_data = _decode(hourly, None)
    current_hour = None
    if isinstance(hour_data, dict):
        current_hour = {
            "hour": now.hour,
            "top_drinks": hour_data.get("top_drinks", []),
            "revenue": hour_data.get("revenue", 0.0),
            "order_count": hour_data.get("order_count", 0),
        }
    return {
        "current_hour": current_hour,
        "top5_drinks": _decode(top5, []),
        "recent_orders": _decode(recent, []),
        "server_timestamp": iso_utc(now),
    }


def _decode(raw: bytes | None, empty: Any) -> Any:
    if raw is None:
        return empty
    try:
        return json.loads(raw)
    except ValueError:
        logger.warning("ignoring a cache value that is not JSON: %r", raw[:80])
        return empty
