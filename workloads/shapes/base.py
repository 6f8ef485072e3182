"""What every load shape shares: stages, tick(), and parameter checks."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_USERS = 5000
MAX_DURATION_S = 24 * 3600


class ShapeError(ValueError):
    """A load shape's parameters are wrong; the message names the parameter."""


class Stage(NamedTuple):
    """Until ``end_s`` (run time, s) hold ``users``, reached at ``spawn_rate`` users/s."""

    end_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Shape:
    """A load shape: a list of stages, checked when built."""

    @property
    def stages(self) -> list[Stage]:
        raise NotImplementedError

    @property
    def duration_s(self) -> float:
        """When the shape stops."""
        return self.stages[-1].end_s

    @property
    def max_users(self) -> int:
        return max(stage.users for stage in self.stages)

    @property
    def tasks_per_user_s(self) -> float | None:
        """Tasks per second each user may run (open model), None: the classes' own waits."""
        return None

    def tick(self, run_time_s: float) -> tuple[int, float] | None:
        """``(users, spawn_rate)`` at ``run_time_s`` seconds into the run; None to stop."""
        for stage in self.stages:
            if run_time_s < stage.end_s:
                return stage.users, stage.spawn_rate
        return None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Shape:
        """Build from the experiment's parameters, refusing unknown names."""
        accepted = list(inspect.signature(cls).parameters)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ShapeError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for the "
                f"{cls.__name__.lower()} shape: it takes {', '.join(accepted)}"
            )
        return cls(**params)


def check_users(shape: str, name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_USERS:
        raise ShapeError(
            f"{shape} shape: {name} must be a whole number of users from 1 to {MAX_USERS}, "
            f"got {value!r}"
        )
    return value


def check_seconds(shape: str, name: str, value: Any, minimum: float = 1) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not minimum <= value <= MAX_DURATION_S
    ):
        raise ShapeError(
            f"{shape} shape: {name} must be a number of seconds from {minimum:g} to "
            f"{MAX_DURATION_S}, got {value!r}"
        )
    return float(value)


def check_rate(shape: str, name: str, value: Any) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ShapeError(
            f"{shape} shape: {name} must be a positive number per second, got {value!r}"
        )
    return float(value)
