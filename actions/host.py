"""Chaos Toolkit actions: starve the API's CPUs or take a share of the host's memory with
stress-ng, and stop it.

stress-ng runs as a holder the fault ledger records (kind ``holder``) before it starts, so
the safety control and ``gameday recover`` kill its process group even when the runner is
gone; its own ``--timeout`` bounds it too (``gameday.stress``).
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import stress

__all__ = ["starve_cpu", "stop_stressor", "take_memory"]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def starve_cpu(
    hold_s: float = 300,
    load_pct: int = 100,
    workers_per_cpu: int = 1,
    nice: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """stress-ng CPU workers pinned to the CPUs the API's process may run on, ``load_pct`` %
    busy, at priority ``nice``, for at most ``hold_s`` seconds (``stop_stressor`` ends them
    sooner)."""
    with engine_call("starve the API's CPUs", configuration) as target:
        result = stress.starve_cpu(target, hold_s, load_pct, workers_per_cpu, nice)
    logger.info(
        "%s CPU workers on CPUs %s, pid %s", result["workers"], result["cpus"], result["pid"]
    )
    return result


@marks_faults
def take_memory(
    hold_s: float = 300,
    share_of_available: float = 0.25,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """stress-ng holding ``share_of_available`` of MemAvailable (at most ``stress.MAX_SHARE``)
    for at most ``hold_s`` seconds; returns once the memory is resident."""
    with engine_call("take the host's memory", configuration) as target:
        result = stress.take_memory(target, hold_s, share_of_available)
    logger.info("%s MiB held by stress-ng, pid %s", result["taken_bytes"] // 2**20, result["pid"])
    return result


@marks_faults
def stop_stressor(
    stressor: str = "cpu", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Kill the recorded ``stressor`` (``cpu`` or ``memory``) and its workers."""
    with engine_call(f"stop the {stressor} stressor", configuration) as target:
        result = stress.release(target, stressor)
    logger.info("%s stressor stopped: %s, left %s", stressor, result["stopped"], result["left"])
    return result
