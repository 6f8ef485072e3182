"""Safeguard probes: conditions under which a run must stop at once.

Declared in the experiments' ``safeguards`` control (chaostoolkit-addons),
each returns False when the run must stop; the runner then interrupts the
method and plays the rollbacks. With no load running, the load guards hold.

They stop a run only for harm beyond what the experiment planned: the kill
switch, and failures that outlast the fault by a margin. An unexpected answer
during a fault is not harm beyond the plan but a failed expectation, judged by
the method (``probes.load.unexpected_answers``) so that every expectation and
the recovery are still measured.
"""

from __future__ import annotations

import logging
import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import livestats, locustrun
from gameday.target import Target, TargetError, load_target

__all__ = ["failures_do_not_persist", "kill_switch_is_off"]
logger = logging.getLogger("chaostoolkit")


def kill_switch_is_off(configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True while the kill switch file is absent (``gameday kill-switch on`` sets it)."""
    target = _target(configuration)
    is_off = not target.kill_switch.exists()
    if not is_off:
        logger.warning(f"Kill switch {target.kill_switch} is set: stopping the run")
    return is_off


def failures_do_not_persist(
    max_failure_ratio: float = 0.5,
    for_s: int = 240,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """False when the failure ratio stayed over ``max_failure_ratio`` for every second
    of the last ``for_s`` (longer than any fault of the experiment lasts)."""
    target = _target(configuration)
    run = _current(target)
    if run is None:
        return True
    try:
        seconds = livestats.read_seconds(run["live_file"], last=for_s + 2)
    except livestats.LiveStatsError:
        return True
    recent = [s for s in seconds if s["t"] >= time.time() - for_s - 1]
    if len(recent) < for_s:
        return True
    persistent = all(_failure_ratio(second) > max_failure_ratio for second in recent)
    if persistent:
        logger.warning(
            f"Failure ratio over {max_failure_ratio} for {for_s} s: longer than the fault lasts"
        )
    return not persistent


def _failure_ratio(second: dict) -> float:
    """Failed / completed in one second; a second in which nothing completed counts as failed."""
    merged = livestats.merge([second])
    return merged["failures"] / merged["count"] if merged["count"] else 1.0


def _current(target: Target) -> dict | None:
    try:
        return locustrun.current(target)
    except locustrun.NotRunning:
        return None


def _target(configuration: Configuration) -> Target:
    try:
        return load_target(configuration)
    except TargetError as exc:
        raise ActivityFailed(f"safeguard: {exc}") from None
