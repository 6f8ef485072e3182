"""Tolerance helpers: judge a probe's figures against limits from configuration.

Used as ``{"type": "probe"}`` tolerances, so the probe's figures stay in the
journal while the hypothesis checks them::

    "tolerance": {"type": "probe", "name": "within-limits", "provider": {
        "type": "python", "module": "probes.checks", "func": "within",
        "arguments": {"at_most": {"p99_ms": "${p99_threshold_ms}"}}}}
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

__all__ = ["within"]
logger = logging.getLogger("chaostoolkit")


def within(
    value: dict[str, Any] | None = None,
    at_most: dict[str, float] | None = None,
    at_least: dict[str, float] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """True when every named figure of ``value`` is within its limit.

    A figure that is missing or not a number fails the check (it was not measured).
    """
    figures = value or {}
    breaches = []
    for key, limit in (at_most or {}).items():
        seen = figures.get(key)
        if not isinstance(seen, int | float) or seen > float(limit):
            breaches.append(f"{key}={seen} (at most {limit})")
    for key, limit in (at_least or {}).items():
        seen = figures.get(key)
        if not isinstance(seen, int | float) or seen < float(limit):
            breaches.append(f"{key}={seen} (at least {limit})")
    if breaches:
        logger.warning(f"Out of tolerance: {', '.join(breaches)}")
    return not breaches
