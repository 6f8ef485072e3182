"""Tolerances relative to the baseline: checked, then derived from the run's baseline."""

from __future__ import annotations

import pytest

from gameday.tolerance import ToleranceError, bound_from_baseline, relative_bound


def test_the_bound_is_the_ratio_of_the_baseline_or_the_floor():
    relative = relative_bound({"max_ratio_of_baseline": 5, "floor_ms": 50})
    assert bound_from_baseline(relative, 20)["bound_ms"] == 100
    slow = bound_from_baseline(relative, 4)
    assert slow["bound_ms"] == 50 and slow["baseline_ms"] == 4
    assert slow["described"] == "50 ms (5 x the baseline's 4 ms, floor 50 ms)"


def test_a_machine_twice_as_slow_gets_twice_the_bound():
    relative = relative_bound({"max_ratio_of_baseline": 3})
    assert (
        bound_from_baseline(relative, 80)["bound_ms"]
        == 2 * bound_from_baseline(relative, 40)["bound_ms"]
    )


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"max_ratio": 5}, "unknown key(s) ['max_ratio']"),
        ({"floor_ms": 50}, "max_ratio_of_baseline must be a number > 0"),
        ({"max_ratio_of_baseline": -1}, "max_ratio_of_baseline must be a number > 0"),
        ({"max_ratio_of_baseline": 2, "floor_ms": -5}, "floor_ms must be a number >= 0"),
        ({"max_ratio_of_baseline": True}, "max_ratio_of_baseline must be a number > 0"),
    ],
)
def test_a_malformed_relative_tolerance_is_named(spec, named):
    with pytest.raises(ToleranceError) as exc:
        relative_bound(spec)
    assert named in str(exc.value)
