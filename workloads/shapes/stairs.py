"""Stair ramp: hold each step's user count for ``step_duration_s`` (10 -> 100 -> 500 in 10 min)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Shape, ShapeError, Stage, check_rate, check_seconds, check_users


@dataclass(frozen=True)
class Stairs(Shape):
    steps: list[int] = field(default_factory=lambda: [10, 100, 500])
    step_duration_s: float = 200
    spawn_rate: float = 10

    def __post_init__(self) -> None:
        if not isinstance(self.steps, list | tuple) or not self.steps:
            raise ShapeError(
                f"stairs shape: steps must be a non-empty list of user counts, got {self.steps!r}"
            )
        for index, users in enumerate(self.steps):
            check_users("stairs", f"steps[{index}]", users)
        check_seconds("stairs", "step_duration_s", self.step_duration_s)
        check_rate("stairs", "spawn_rate", self.spawn_rate)

    @property
    def stages(self) -> list[Stage]:
        return [
            Stage((index + 1) * self.step_duration_s, users, self.spawn_rate)
            for index, users in enumerate(self.steps)
        ]
