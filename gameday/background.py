"""Load that runs through a whole game day, beside each experiment's own.

A plan's ``background_load`` (for example dashboard viewers kept up all session) is
a Locust run with its own state directory (``<state_dir>/background``: its own
current run and ledger, so experiments still find the lab's ledger empty) and its own
metrics port. It is bounded by the session's estimated length plus an hour, and
stopped when the session ends; one a crashed session left is stopped when the next
session starts.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from gameday import estimate, ledger, locustrun
from gameday.errors import GamedayError
from gameday.loadplan import MAX_RUN_TIME_S, parse_user_classes
from gameday.target import Target

if TYPE_CHECKING:
    from gameday.session import Session

__all__ = ["LEDGER_ENV", "METRICS_PORT", "start", "stop", "target_of"]

# The session's own background ledger, in the environment of the runs it starts: their
# admission does not count that load as a fault left by an earlier run.
LEDGER_ENV = "COFFEE_CHAOS_SESSION_LOAD_LEDGER"
METRICS_PORT = 9647
MARGIN_S = 3600


def target_of(target: Target) -> Target:
    """The lab's target with the background load's own state directory."""
    return dataclasses.replace(target, state_dir=target.state_dir / "background")


def start(session: Session) -> dict[str, Any] | None:
    """Start the plan's background load, if it has one (after stopping a stale one)."""
    own = target_of(session.target)
    ledger.recover(own)
    spec = session.plan.background_load
    if not spec:
        return None
    planned_s = sum(estimate.duration_s(e) for e in session.plan.experiments)
    bound = int(min(planned_s + MARGIN_S, MAX_RUN_TIME_S))
    return locustrun.start(
        session.directory / "background",
        session.target.api_url,
        spec["users"],
        spec["spawn_rate"],
        bound,
        parse_user_classes(spec["user_classes"]),
        own,
        metrics_port=METRICS_PORT,
    )


def stop(session: Session, run: dict[str, Any] | None) -> None:
    """Stop the background load; whatever goes wrong, the ledger's revert follows."""
    if run is None:
        return
    own = target_of(session.target)
    try:
        locustrun.stop(own)
    except GamedayError as exc:
        print(f"gameday: stopping the background load: {exc}", file=sys.stderr)
    ledger.recover(own)
