"""Tolerances relative to the baseline window of the same run.

``{"max_ratio_of_baseline": 5, "floor_ms": 50}`` bounds a figure to 5 x its value in the
baseline window, or 50 ms, whichever is larger: on a machine twice as slow the baseline
doubles with the fault window, and the verdict stays the same.
"""

from __future__ import annotations

from typing import Any

from gameday.errors import GamedayError

__all__ = ["RELATIVE_KEYS", "ToleranceError", "bound_from_baseline", "relative_bound"]

RELATIVE_KEYS = {"max_ratio_of_baseline": "a ratio > 0", "floor_ms": "milliseconds >= 0"}


class ToleranceError(GamedayError):
    """A relative tolerance is malformed."""


def relative_bound(spec: dict[str, Any]) -> dict[str, float]:
    """Check a relative tolerance; return its ratio and floor (0 when not given)."""
    unknown = sorted(set(spec) - set(RELATIVE_KEYS))
    if unknown:
        raise ToleranceError(
            f"unknown key(s) {unknown} in the relative tolerance {spec}: use "
            + ", ".join(f"{k} ({v})" for k, v in RELATIVE_KEYS.items())
        )
    ratio, floor = spec.get("max_ratio_of_baseline"), spec.get("floor_ms", 0)
    if not _number(ratio) or ratio <= 0:
        raise ToleranceError(
            f"max_ratio_of_baseline must be a number > 0 in {spec}, e.g. "
            '{"max_ratio_of_baseline": 5, "floor_ms": 50}'
        )
    if not _number(floor) or floor < 0:
        raise ToleranceError(f"floor_ms must be a number >= 0 in {spec}")
    return {"max_ratio_of_baseline": float(ratio), "floor_ms": float(floor)}


def bound_from_baseline(relative: dict[str, float], baseline_ms: float) -> dict[str, Any]:
    """The bound for this run: max(ratio x baseline, floor), described for a person."""
    ratio, floor = relative["max_ratio_of_baseline"], relative["floor_ms"]
    bound = round(max(ratio * baseline_ms, floor), 3)
    return {
        "bound_ms": bound,
        "baseline_ms": round(baseline_ms, 3),
        **relative,
        "described": (
            f"{bound:g} ms ({ratio:g} x the baseline's {baseline_ms:g} ms, floor {floor:g} ms)"
        ),
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
