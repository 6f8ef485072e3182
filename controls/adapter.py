"""The adapter boundary between Chaos Toolkit activities and the engine (``gameday``).

Every action and probe runs its engine calls inside ``engine_call``::

    with engine_call(f"kill service {service!r}", configuration) as target:
        return services.kill(service, target, timeout_s=timeout_s)

It loads the target (``gameday.target.load_target``: the target file and the
experiment's configuration) and turns any ``GamedayError`` raised inside into
``ActivityFailed("could not <what>: <cause>")``, the error Chaos Toolkit records
in the journal. An ``ActivityFailed`` raised inside passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from gameday.errors import GamedayError
from gameday.target import Target, load_target

__all__ = ["engine_call"]


@contextmanager
def engine_call(what: str, configuration: Configuration = None) -> Iterator[Target]:
    """The target, for engine calls that ``what`` describes; their GamedayErrors fail the
    activity as ``ActivityFailed("could not <what>: <cause>")``."""
    try:
        yield load_target(configuration)
    except GamedayError as exc:
        raise ActivityFailed(f"could not {what}: {exc}") from None
