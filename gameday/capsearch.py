"""The capacity search: the most orders/s a target serves before it degrades.

Open-model load (each user paced at ``user_rate_s`` orders/s from a phase of
its own) is stepped in orders/s: doubling from ``start_rate`` until a step
degrades (halving instead while the very first ones do, down to ``min_rate``),
then bisecting between the last good and the first bad step until the interval
is within ``precision`` of the good end. Each step discards its warm-up
(``settle_s``, plus the users' spawning and first pace), then is measured for
``step_s - settle_s`` seconds and at least ``min_requests`` orders, and judged:

- ``generator``: the load generator, not the target, limited it
  (``gameday.generator.bound``): the search adds local workers (up to
  ``max_workers``, 0: as many as the machine has CPUs) and measures it again;
  with none left it stops, "limited by the load generator", with no capacity;
- ``bad``: the target degraded, by the knee's criteria (``gameday.capacity``):
  P99 over ``p99_ms`` or failures over ``max_failure_ratio`` (requests still
  open at the step's end count at their age), or served short of offered by
  more than ``served_margin`` (queueing);
- ``good`` otherwise.

A bad step is measured once more at once (noise: a GC pause, a checkpoint): the
second measurement decides, both stay in the table, and ``remeasured`` lists
them. The capacity is the served rate of the highest good step; the interval
is that step's offered rate and the lowest bad one's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gameday import capacity, generator
from gameday.capacityfile import CapacityError
from workloads.shapes import users_for

__all__ = ["SearchPlan", "judge", "search"]

Step = Callable[[float, str], dict[str, Any]]  # (orders/s, phase) -> measured row


@dataclass(frozen=True)
class SearchPlan:
    """The search's settings, checked when made: CapacityError names the first wrong one."""

    start_rate: float = 25
    precision: float = 0.05
    step_s: int = 40
    settle_s: int = 10
    min_requests: int = 1000
    min_rate: float = 2
    max_rate: float = 5000
    user_rate_s: float = 2
    spawn_rate: float = 200
    p99_ms: float = 200
    max_failure_ratio: float = 0.01
    served_margin: float = 0.05
    max_workers: int = 0
    cpu_bound: float = 0.9
    max_loop_lag_ms: float = 50

    def __post_init__(self) -> None:
        for name, low, high, whole in LIMITS:
            value = getattr(self, name)
            if not _fits(value, low, high, whole):
                kind = "a whole number" if whole else "a number"
                raise CapacityError(f"{name} must be {kind} from {low} to {high}, got {value!r}")
        if self.step_s - self.settle_s < 3:
            raise CapacityError(
                f"each step must be measured for at least 3 s: step_s ({self.step_s}) minus "
                f"settle_s ({self.settle_s}) is {self.step_s - self.settle_s}"
            )
        if not self.min_rate <= self.start_rate <= self.max_rate:
            raise CapacityError(
                f"start_rate ({self.start_rate}) must lie between min_rate ({self.min_rate}) "
                f"and max_rate ({self.max_rate}) orders/s"
            )
        if self.min_rate < self.user_rate_s:
            raise CapacityError(
                f"min_rate ({self.min_rate}) must be at least user_rate_s ({self.user_rate_s}): "
                "one user, the least load the search can offer"
            )

    def offered(self, rate: float) -> float:
        """What ``rate`` becomes once it is a whole number of paced users."""
        return users_for(rate, self.user_rate_s) * self.user_rate_s

    def measure_s(self, offered: float) -> int:
        """How long a step at ``offered`` orders/s is measured after its warm-up."""
        return max(self.step_s - self.settle_s, math.ceil(self.min_requests / offered))


LIMITS = (  # name, lowest, highest, whole number
    ("start_rate", 0.01, 100000, False),
    ("precision", 0.005, 1, False),
    ("step_s", 4, 3600, True),
    ("settle_s", 0, 3600, True),
    ("min_requests", 1, 10**7, True),
    ("min_rate", 0.01, 100000, False),
    ("max_rate", 0.01, 100000, False),
    ("user_rate_s", 0.01, 100, False),
    ("spawn_rate", 1, 10000, False),
    ("p99_ms", 1, 600000, False),
    ("max_failure_ratio", 0, 1, False),
    ("served_margin", 0, 0.9, False),
    ("max_workers", 0, 64, True),
    ("cpu_bound", 0.01, 1, False),
    ("max_loop_lag_ms", 1, 60000, False),
)


def _fits(value: Any, low: float, high: float, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        return False
    return math.isfinite(value) and low <= value <= high


def judge(row: dict[str, Any], plan: SearchPlan) -> tuple[str, str | None]:
    """``("generator" | "bad" | "good", why)`` of a measured step."""
    pace_ms = 1000 / plan.user_rate_s
    limit = generator.bound(
        row, plan.cpu_bound, plan.max_loop_lag_ms, plan.served_margin, plan.p99_ms, pace_ms
    )
    if limit:
        return "generator", limit
    reason = capacity.latency_or_failures(row, plan.p99_ms, plan.max_failure_ratio)
    if not reason and row["served_per_s"] < row["offered_per_s"] * (1 - plan.served_margin):
        reason = (
            f"served {row['served_per_s']} orders/s of the {row['offered_per_s']} offered "
            f"(short by more than {plan.served_margin:.0%}: queueing)"
        )
    return ("bad", reason) if reason else ("good", None)


def search(plan: SearchPlan, step: Step, more_workers: Callable[[], int | None]) -> dict:
    """Run the search with ``step`` measuring one rate and ``more_workers`` adding local
    workers (their new count, or None when none are left); the result's record."""
    steps: list[dict[str, Any]] = []
    good: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None
    rate: float | None = plan.offered(plan.start_rate)
    while rate is not None:
        row = _measured(plan, step, rate, _phase(good, bad), steps)
        if row["verdict"] == "generator":
            if more_workers() is not None:
                continue
            return _result(plan, steps, good, bad, limit=row)
        if row["verdict"] == "good":
            good = row
        else:
            bad = row
        rate = _next_rate(plan, good, bad)
    return _result(plan, steps, good, bad)


def _phase(good: dict | None, bad: dict | None) -> str:
    if bad is None:
        return "doubling"
    return "halving" if good is None else "bisecting"


def _measured(
    plan: SearchPlan, step: Step, rate: float, phase: str, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """One step, judged; a bad one measured once more, the second deciding."""
    row = _judged(plan, step(rate, phase), steps)
    if row["verdict"] == "bad":
        row = _judged(plan, step(rate, "again"), steps)
    return row


def _judged(plan: SearchPlan, row: dict[str, Any], steps: list[dict[str, Any]]) -> dict:
    verdict, reason = judge(row, plan)
    row.update(step=len(steps) + 1, verdict=verdict, reason=reason)
    steps.append(row)
    return row


def _next_rate(plan: SearchPlan, good: dict | None, bad: dict | None) -> float | None:
    """The next rate to measure, or None when the search is over."""
    if bad is None:
        top = good["offered_per_s"]
        return None if top >= plan.max_rate else plan.offered(min(2 * top, plan.max_rate))
    low = bad["offered_per_s"]
    if good is None:
        half = plan.offered(low / 2)
        return None if low / 2 < plan.min_rate or half >= low else half
    high = good["offered_per_s"]
    if low - high <= plan.precision * high:
        return None
    middle = plan.offered((low + high) / 2)
    return None if middle in (low, high) else middle


def _result(
    plan: SearchPlan,
    steps: list[dict[str, Any]],
    good: dict | None,
    bad: dict | None,
    limit: dict | None = None,
) -> dict[str, Any]:
    deciding = [
        row for row, after in zip(steps, [*steps[1:], None], strict=True) if not _again(after)
    ]
    first_bad = next((row for row in deciding if row["verdict"] == "bad"), None)
    if limit is not None:
        limited_by = "load generator"
    else:
        limited_by = "max_orders_per_s" if bad is None else "target"
    record = {
        "method": "search",
        "orders_per_s": good["served_per_s"] if good and limited_by == "target" else None,
        "interval_orders_per_s": [
            good["offered_per_s"] if good else 0,
            bad["offered_per_s"] if bad else None,
        ],
        "knee_reached": bad is not None,
        "knee_reason": bad["reason"] if bad else None,
        "first_bad": _brief(first_bad),
        "limited_by": limited_by,
        "generator_limit_orders_per_s": limit["sent_per_s"] if limit else None,
        "remeasured": _remeasured(steps),
        "steps": steps,
        "settings": asdict(plan),
    }
    return {**record, "summary": _summary(record, good, limit)}


def _again(row: dict | None) -> bool:
    return row is not None and row["phase"] == "again"


def _brief(row: dict | None) -> dict[str, Any] | None:
    return {"offered_per_s": row["offered_per_s"], "reason": row["reason"]} if row else None


def _remeasured(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step measured again, with both verdicts (a change means noise)."""
    return [
        {
            "offered_per_s": row["offered_per_s"],
            "first": steps[index - 1]["verdict"],
            "then": row["verdict"],
            "why_first": steps[index - 1]["reason"],
        }
        for index, row in enumerate(steps)
        if _again(row)
    ]


def _summary(record: dict[str, Any], good: dict | None, limit: dict | None) -> str:
    """One sentence: the capacity and why it ends there, or why there is none."""
    served = f"{good['served_per_s']} orders/s" if good else "no rate"
    if limit is not None:
        return (
            f"Limited by the load generator at {limit['sent_per_s']} orders/s "
            f"({limit['reason']}); not the target's capacity: the target served {served} "
            "without degrading. Add workers or machines (load_workers, remote workers) "
            "and run capacity-search again."
        )
    low, high = record["interval_orders_per_s"]
    if high is None:
        return (
            f"No knee up to max_orders_per_s: the target served {served} without "
            "degrading; its capacity is higher (raise max_orders_per_s)."
        )
    if good is None:
        return (
            f"Capacity below {high} orders/s: even the lowest step degraded "
            f"({record['knee_reason']})."
        )
    return (
        f"Capacity {good['served_per_s']} orders/s: good at {low}, degraded at {high} "
        f"orders/s offered ({record['knee_reason']})."
    )
