"""The Redis keys the aggregator writes and the API reads (names and TTLs from the contract)."""

from __future__ import annotations

from datetime import UTC, datetime

TOP5_KEY = "metrics:top5"
RECENT_KEY = "orders:recent"
LAST_SUCCESS_KEY = "aggregator:last_success"
HOURLY_TTL_SECONDS = 25 * 3600
RECENT_TTL_SECONDS = 2 * 3600


def hourly_key(hour: int) -> str:
    """``metrics:hourly:{hour}`` for a UTC hour 0-23."""
    return f"metrics:hourly:{hour}"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with an explicit UTC offset; naive values are taken as UTC (as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
