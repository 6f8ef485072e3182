"""The capacity search's load: an open-model rate that the engine sets step by step.

The engine (``gameday.searchload``) writes ``{"orders_per_s": 120}`` to
``control_file`` (atomically); every tick reads it and runs
``users_for(120, user_rate_s)`` users, each paced at ``user_rate_s`` tasks per
second from a random phase of its own (the open model of the sustained shape),
so the offered rate is ``users * user_rate_s``. ``{"stop": true}`` ends the
run; a file missing or unreadable keeps the last count. ``max_orders_per_s``
bounds the users, ``duration_s`` the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .base import MAX_USERS, Shape, ShapeError, Stage, check_rate, check_seconds


def users_for(orders_per_s: float, user_rate_s: float) -> int:
    """The users that offer ``orders_per_s`` at ``user_rate_s`` each (0 for no load)."""
    if orders_per_s <= 0:
        return 0
    return max(1, round(orders_per_s / user_rate_s))


@dataclass(frozen=True)
class Search(Shape):
    control_file: str = ""
    user_rate_s: float = 2.0
    max_orders_per_s: float = 5000
    spawn_rate: float = 200
    duration_s: float = 3600
    _last: list[int] = field(default_factory=lambda: [0], init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.control_file, str) or not Path(self.control_file).is_absolute():
            raise ShapeError(
                f"search shape: control_file must be an absolute path, got {self.control_file!r}"
            )
        check_rate("search", "user_rate_s", self.user_rate_s)
        check_rate("search", "max_orders_per_s", self.max_orders_per_s)
        check_rate("search", "spawn_rate", self.spawn_rate)
        check_seconds("search", "duration_s", self.duration_s)
        if users_for(self.max_orders_per_s, self.user_rate_s) > MAX_USERS:
            raise ShapeError(
                f"search shape: {self.max_orders_per_s} orders/s at {self.user_rate_s} per user "
                f"needs more than {MAX_USERS} users: raise user_rate_s"
            )

    @property
    def stages(self) -> list[Stage]:
        users = users_for(self.max_orders_per_s, self.user_rate_s)
        return [Stage(self.duration_s, users, self.spawn_rate)]

    @property
    def tasks_per_user_s(self) -> float:
        return self.user_rate_s

    def tick(self, run_time_s: float) -> tuple[int, float] | None:
        if run_time_s >= self.duration_s:
            return None
        try:
            control = json.loads(Path(self.control_file).read_text())
        except (OSError, ValueError):
            control = None
        if isinstance(control, dict):
            if control.get("stop"):
                return None
            rate = control.get("orders_per_s")
            if isinstance(rate, int | float) and math.isfinite(rate):
                rate = min(max(0.0, rate), self.max_orders_per_s)
                self._last[0] = users_for(rate, self.user_rate_s)
        return self._last[0], self.spawn_rate
