"""Chaos Toolkit actions: pause Redis's clients with its own CLIENT PAUSE, and unpause them;
fill Redis (its maxmemory lowered below what it uses, noeviction), and restore it.

The pause is recorded in the fault ledger (kind ``redis_pause``) before it is made, and
always ends by itself after ``pause_s``; ``unpause_redis`` and ``gameday recover`` end it
sooner (Redis holds an UNPAUSE sent during an ALL pause until the pause ends). The limit's
previous values are recorded (kind ``redis_maxmemory``) before it is set;
``restore_redis_memory`` and ``gameday recover`` set them back.
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import redismemory, redispause

__all__ = ["limit_redis_memory", "pause_redis", "restore_redis_memory", "unpause_redis"]
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


@marks_faults
def limit_redis_memory(
    share_of_used: float = 0.5, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Lower ``maxmemory`` to ``share_of_used`` of the memory Redis uses, with noeviction:
    Redis answers reads and refuses every write with OOM until ``restore_redis_memory``."""
    with engine_call("lower Redis's maxmemory", configuration) as target:
        result = redismemory.limit(target, share_of_used, secrets)
    logger.info(
        "Redis's maxmemory lowered to %s bytes (used %s)",
        result["maxmemory"],
        result["used_memory"],
    )
    return result


@marks_faults
def restore_redis_memory(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Set Redis's maxmemory and policy back to the recorded values; without a limit, nothing
    changes."""
    with engine_call("restore Redis's maxmemory", configuration) as target:
        result = redismemory.restore(target, secrets)
    logger.info("Redis's maxmemory restored: %s", result)
    return result
