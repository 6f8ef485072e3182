"""The Redis keys the target contract names (the aggregator writes them, the API reads them)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["contract_keys"]


def contract_keys(now: datetime | None = None) -> list[str]:
    """``metrics:hourly:{hour}`` for the current UTC hour, ``metrics:top5``, ``orders:recent``."""
    hour = (now or datetime.now(UTC)).astimezone(UTC).hour
    return [f"metrics:hourly:{hour}", "metrics:top5", "orders:recent"]
