"""Sustained load: a fixed number of users, or a fixed rate of tasks (orders) per second.

With ``orders_per_s`` the run is an open model: ``users`` (default enough for
``user_rate_s`` tasks/s each) each run at most ``orders_per_s / users`` tasks
per second, each from a random phase of its own (``PacedUser.paced_wait`` in the
locustfile), so the total is about ``orders_per_s`` while the target keeps up,
spread over the second rather than in bursts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import MAX_USERS, Shape, ShapeError, Stage, check_rate, check_seconds, check_users


@dataclass(frozen=True)
class Sustained(Shape):
    duration_s: float = 300
    users: int | None = None
    orders_per_s: float | None = None
    user_rate_s: float = 0.5
    spawn_rate: float = 10

    def __post_init__(self) -> None:
        check_seconds("sustained", "duration_s", self.duration_s)
        check_rate("sustained", "spawn_rate", self.spawn_rate)
        if self.users is None and self.orders_per_s is None:
            raise ShapeError("sustained shape: give users, or orders_per_s (open model)")
        if self.users is not None:
            check_users("sustained", "users", self.users)
        if self.orders_per_s is not None:
            check_rate("sustained", "orders_per_s", self.orders_per_s)
            check_rate("sustained", "user_rate_s", self.user_rate_s)
            if self.users is None and self.orders_per_s / self.user_rate_s > MAX_USERS:
                raise ShapeError(
                    f"sustained shape: {self.orders_per_s} orders/s at {self.user_rate_s} per "
                    f"user needs more than {MAX_USERS} users: raise user_rate_s"
                )

    @property
    def user_count(self) -> int:
        if self.users is not None:
            return self.users
        return max(1, math.ceil(self.orders_per_s / self.user_rate_s))

    @property
    def tasks_per_user_s(self) -> float | None:
        if self.orders_per_s is None:
            return None
        return self.orders_per_s / self.user_count

    @property
    def stages(self) -> list[Stage]:
        return [Stage(self.duration_s, self.user_count, self.spawn_rate)]
