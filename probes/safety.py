"""Safeguard probes: conditions under which a run must stop at once."""

from __future__ import annotations

import logging

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday.target import TargetError, load_target

__all__ = ["kill_switch_is_off"]
logger = logging.getLogger("chaostoolkit")


def kill_switch_is_off(configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True while the kill switch file is absent (``gameday kill-switch on`` sets it).

    Used as a safeguard with tolerance ``true``: setting the switch stops a
    running experiment, whose rollbacks then put everything back.
    """
    try:
        target = load_target(configuration)
    except TargetError as exc:
        raise ActivityFailed(f"kill switch: {exc}") from None
    is_off = not target.kill_switch.exists()
    if not is_off:
        logger.warning(f"Kill switch {target.kill_switch} is set: stopping the run")
    return is_off
