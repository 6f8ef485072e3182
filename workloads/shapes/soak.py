"""Soak: a steady number of users for hours (100 users for 2-4 h), to expose leaks."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Shape, Stage, check_rate, check_seconds, check_users


@dataclass(frozen=True)
class Soak(Shape):
    users: int = 100
    duration_s: float = 2 * 3600
    spawn_rate: float = 10

    def __post_init__(self) -> None:
        check_users("soak", "users", self.users)
        check_seconds("soak", "duration_s", self.duration_s)
        check_rate("soak", "spawn_rate", self.spawn_rate)

    @property
    def stages(self) -> list[Stage]:
        return [Stage(self.duration_s, self.users, self.spawn_rate)]
