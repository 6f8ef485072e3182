"""Spike (morning rush): base users, ramp to the peak in ``ramp_s``, hold, back to base."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Shape, ShapeError, Stage, check_rate, check_seconds, check_users


@dataclass(frozen=True)
class Spike(Shape):
    base_users: int = 50
    peak_users: int = 500
    base_s: float = 60
    ramp_s: float = 30
    hold_s: float = 120
    after_s: float = 120
    spawn_rate: float | None = None  # None: (peak - base) / ramp_s, so the ramp lasts ramp_s

    def __post_init__(self) -> None:
        check_users("spike", "base_users", self.base_users)
        check_users("spike", "peak_users", self.peak_users)
        if self.peak_users <= self.base_users:
            raise ShapeError(
                f"spike shape: peak_users ({self.peak_users}) must be above base_users "
                f"({self.base_users})"
            )
        check_seconds("spike", "base_s", self.base_s)
        check_seconds("spike", "ramp_s", self.ramp_s)
        check_seconds("spike", "hold_s", self.hold_s)
        check_seconds("spike", "after_s", self.after_s)
        if self.spawn_rate is not None:
            check_rate("spike", "spawn_rate", self.spawn_rate)

    @property
    def rate(self) -> float:
        """Users started (or stopped) per second on the way up and down."""
        if self.spawn_rate is not None:
            return float(self.spawn_rate)
        return round((self.peak_users - self.base_users) / self.ramp_s, 3)

    @property
    def stages(self) -> list[Stage]:
        peak_end = self.base_s + self.ramp_s + self.hold_s
        return [
            Stage(self.base_s, self.base_users, self.rate),
            Stage(peak_end, self.peak_users, self.rate),
            Stage(peak_end + self.after_s, self.base_users, self.rate),
        ]
