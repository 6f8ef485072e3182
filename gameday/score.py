"""The resilience score of a game day, 0-100 (computed the way Litmus computes one).

The weighted share of the experiments whose hypothesis held and whose method
expectations were all met: a passed experiment scores its weight, a deviated one 0, and
so does one a safeguard stopped for harm beyond the plan (failures outlasting the
fault). An experiment that could not run as planned (failed, crashed, refused, not run,
or stopped by a person, a signal or the kill switch) measured nothing: it is left out
of the score and listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gameday.verdict import Verdict

__all__ = ["Score", "score"]

HOW = (
    "score = 100 x (sum of the weights of the experiments that passed) / (sum of the "
    "weights of the experiments counted); a deviated experiment, or one a safeguard "
    "stopped for harm beyond the plan, counts with 0; failed, crashed, refused, not run "
    "and stopped-by-hand experiments are left out"
)
HUMAN_STOPS = (None, "kill-switch-is-off")


@dataclass
class Score:
    """The score (None when nothing counted), what counted and what was left out."""

    value: float | None
    counted: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    how: str = HOW


def score(verdicts: list[Verdict], weights: list[float]) -> Score:
    """The score of ``verdicts`` (in the plan's order, with the plan's weights)."""
    result = Score(None)
    for verdict, weight in zip(verdicts, weights, strict=True):
        points = _points(verdict)
        entry = {"name": verdict.name, "outcome": verdict.outcome, "weight": weight}
        if points is None:
            result.excluded.append({**entry, "why": verdict.first_failure() or verdict.outcome})
        else:
            result.counted.append({**entry, "points": points * weight})
    total = sum(e["weight"] for e in result.counted)
    if total:
        result.value = round(100 * sum(e["points"] for e in result.counted) / total, 1)
    return result


def _points(verdict: Verdict) -> int | None:
    if verdict.outcome == "passed":
        return 1
    if verdict.outcome == "deviated":
        return 0
    stop = verdict.interrupted_by or {}
    if verdict.outcome == "interrupted" and stop.get("safeguard") not in HUMAN_STOPS:
        return 0
    return None
