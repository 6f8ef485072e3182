"""gameday.soakchart: the soak picture's axes (the picture itself: tests/test_soak.py)."""

from __future__ import annotations

import pytest

from gameday import soakchart


class _Axis:
    ylim: tuple[float, float] | None = None

    def set_ylim(self, bottom: float, top: float) -> None:
        self.ylim = (bottom, top)


@pytest.mark.parametrize(
    ("low", "high", "span", "ylim"),
    [
        (70.8, 70.9, 22.0, (59.85, 81.85)),  # flat memory in a window as tall as its allowance
        (12, 12, 1000, (0.0, 1000.0)),  # never below zero for a count
        (40, 90, 22.0, None),  # data taller than the allowance keeps matplotlib's own axis
        (200, 200, None, (190.0, 210.0)),  # no allowance: a tenth of the level
    ],
)
def test_the_picture_shows_at_least_the_allowance(low, high, span, ylim):
    axis = _Axis()
    soakchart._at_least(axis, low, high, span)
    assert axis.ylim == (pytest.approx(ylim) if ylim else None)
