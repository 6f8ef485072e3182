"""Chaos Toolkit actions: pause Redis's clients with its own CLIENT PAUSE, and unpause them.

The pause is recorded in the fault ledger (kind ``redis_pause``) before it is made, and
always ends by itself after ``pause_s``; ``unpause_redis`` and ``gameday recover`` end it
sooner (Redis holds an UNPAUSE sent during an ALL pause until the pause ends).
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import redispause

__all__ = ["pause_redis", "unpause_redis"]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def pause_redis(
    pause_s: float = 30,
    mode: str = "ALL",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """``CLIENT PAUSE`` for ``pause_s`` seconds: WRITE holds writes, ALL every command."""
    with engine_call(f"pause Redis's clients ({mode})", configuration) as target:
        result = redispause.pause(target, pause_s, mode, secrets)
    logger.info("Redis paused (%s) for %s s", mode, pause_s)
    return result


@marks_faults
def unpause_redis(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """``CLIENT UNPAUSE``; returns once Redis answers again. Without a pause, nothing changes."""
    with engine_call("unpause Redis's clients", configuration) as target:
        result = redispause.unpause(target, secrets)
    logger.info("Redis unpaused: %s", result)
    return result
