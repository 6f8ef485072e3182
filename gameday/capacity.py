"""The capacity finder: a step test, its per-step table, the knee and the saved figure.

A step test holds the load at each number of users of ``steps`` for ``step_s``
seconds (one Locust run, stair shape). Each step is measured from ``settle_s``
after it began to its end: users, offered orders/s (what the users would send
if answers were instant: users / mean wait of their classes), served orders/s
(answered 200), P50/P95/P99 and failure ratio of the orders.

The knee is the first step where latency degrades: P99 over ``p99_ms``, or the
failure ratio over ``max_failure_ratio``, or the served rate grew by less than
``min_growth`` of the extra load offered since the previous step. The capacity
is the best served rate before the knee; when no step degrades it is a lower
bound (``knee_reached`` false). The ramp keeps its table in the run directory
and compares where it ended with the searched capacity.

The searched capacity (``gameday.capsearch``) is kept by ``gameday.capacityfile``.

    python -m gameday.capacity          # print the saved searched capacity and its evidence
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from gameday import capacityfile, livestats
from gameday.capacityfile import CapacityError
from gameday.errors import GamedayError
from gameday.target import load_target
from workloads.shapes import MAX_USERS

__all__ = [
    "MEAN_WAIT_S",
    "CapacityError",
    "analyse_steps",
    "check_plan",
    "find_knee",
    "first_second",
    "format_table",
    "latency_or_failures",
    "measure",
    "offered_per_user",
    "pace_kept",
    "spike_customers",
    "total_seconds",
]

ORDER_ENDPOINT = "/api/v1/order"
# Mean wait between two tasks of each user class (the contract's `between(a, b)`).
MEAN_WAIT_S = {
    "CoffeeConsumer": (1 + 5) / 2,
    "DowntownRegular": (2 + 8) / 2,
    "CappuccinoLover": (3 + 10) / 2,
    "RushHourCustomer": (0.5 + 2) / 2,
}
# Dashboard viewers' mean wait (between(1, 3)): they ask for the dashboard, not orders.
VIEWER_WAIT_S = {"DashboardViewer": (1 + 3) / 2}


def check_plan(steps: list[int], step_s: int, settle_s: int, spawn_rate: float) -> None:
    """Refuse a step plan that cannot be measured, naming the problem."""
    if not steps or not all(isinstance(u, int) and not isinstance(u, bool) for u in steps):
        raise CapacityError(f"steps must be a list of whole numbers of users, got {steps!r}")
    if any(u < 1 for u in steps) or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise CapacityError(f"steps must be increasing numbers of users >= 1, got {steps!r}")
    if not isinstance(step_s, int) or not isinstance(settle_s, int) or settle_s < 0:
        raise CapacityError(
            f"step_s and settle_s must be whole seconds, got {step_s!r} and {settle_s!r}"
        )
    if step_s - settle_s < 3:
        raise CapacityError(
            f"each step must be measured for at least 3 s: step_s ({step_s}) minus "
            f"settle_s ({settle_s}) is {step_s - settle_s}; lengthen the steps"
        )
    jumps = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    spawning_s = max(jumps) / spawn_rate if spawn_rate > 0 else float("inf")
    if spawning_s > settle_s:
        raise CapacityError(
            f"users would still be spawning when a step is measured: the largest step adds "
            f"{max(jumps)} users at {spawn_rate}/s ({spawning_s:.0f} s) but settle_s is "
            f"{settle_s}; raise spawn_rate or settle_s"
        )


def pace_kept(user_classes: dict[str, int], answer_s: float) -> float | None:
    """The share of their pace with instant answers that closed-loop users of these classes
    keep when every answer takes ``answer_s`` (each waits, asks, then waits for the answer);
    None when no class has a known wait (WebSocket watchers, the open model)."""
    waits = {**MEAN_WAIT_S, **VIEWER_WAIT_S}
    known = {name: weight for name, weight in user_classes.items() if name in waits}
    if not known:
        return None
    instant = sum(weight / waits[name] for name, weight in known.items())
    slowed = sum(weight / (waits[name] + answer_s) for name, weight in known.items())
    return round(slowed / instant, 3)


def offered_per_user(user_classes: dict[str, int]) -> float:
    """Orders/s one user of the weighted mix would send if answers were instant."""
    unknown = [name for name in user_classes if name not in MEAN_WAIT_S]
    if unknown:
        raise CapacityError(
            f"user class {unknown[0]!r} places no orders: a capacity in orders/s needs "
            f"customers ({', '.join(MEAN_WAIT_S)})"
        )
    total = sum(user_classes.values())
    return sum(w / MEAN_WAIT_S[name] for name, w in user_classes.items()) / total


def spike_customers(
    capacity_orders_per_s: float, share: float, base_users: int, peak_users: int, per_user: float
) -> tuple[int, int]:
    """The spike's base and peak customers when its peak offers ``share`` of the capacity
    (customers of ``per_user`` orders/s each); the base keeps the plan's base/peak ratio."""
    peak = max(2, math.ceil(share * capacity_orders_per_s / per_user))
    if peak > MAX_USERS:
        raise CapacityError(
            f"a spike to {share:.0%} of the capacity ({capacity_orders_per_s} orders/s) needs "
            f"{peak} customers, more than the {MAX_USERS} one load run holds: lower "
            "spike_capacity_share, or set it to 0 for the plan's customers"
        )
    return min(peak - 1, max(1, round(peak * base_users / peak_users))), peak


def analyse_steps(
    live_file: Path | str,
    started_t: int,
    steps: list[int],
    step_s: int,
    settle_s: int,
    per_user: float,
) -> list[dict[str, Any]]:
    """The per-step table of a stair run whose first step began at ``started_t`` (epoch s)."""
    seconds = livestats.read_seconds(live_file)
    table = []
    for index, users in enumerate(steps):
        begin = started_t + index * step_s + settle_s
        end = started_t + (index + 1) * step_s - 1  # the last second may be cut by the next step
        table.append({"step": index + 1, **measure(seconds, begin, end, users * per_user)})
        table[-1]["users"] = users
    return table


def first_second(live_file: Path | str, not_before: float) -> int:
    """The first live second at or after ``not_before`` (epoch s): when a run began."""
    seconds = [s["t"] for s in livestats.read_seconds(live_file) if s["t"] >= int(not_before)]
    if not seconds:
        raise CapacityError(f"Locust wrote no live statistics to {live_file} since {not_before}")
    return min(seconds)


def total_seconds(value: float | list[float], what: str) -> float:
    """A duration given as seconds, or as a list of phases' seconds to add up."""
    parts = value if isinstance(value, list) else [value]
    if not parts or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
        raise CapacityError(f"{what} must be seconds or a list of seconds, got {value!r}")
    return float(sum(parts))


def measure(
    seconds: list[dict[str, Any]], begin: int, end: int, offered_per_s: float
) -> dict[str, Any]:
    """Orders over the live seconds ``begin <= t < end``: served/s, latency, failures, 503s."""
    chosen = [s for s in seconds if begin <= s["t"] < end]
    merged = livestats.merge(chosen, ORDER_ENDPOINT)
    measured_s = max(1, end - begin)
    served = merged["codes"].get("200", 0)
    return {
        "from_t": begin,
        "to_t": end - 1,
        "offered_per_s": round(offered_per_s, 2),
        "sent_per_s": round(merged["started"] / measured_s, 2),
        "served_per_s": round(served / measured_s, 2),
        "requests": merged["count"],
        "in_flight": merged["in_flight"],
        "failure_ratio": (
            round(merged["failures"] / merged["count"], 4) if merged["count"] else None
        ),
        "answers_503": merged["codes"].get("503", 0),
        "p50_ms": livestats.percentile(merged["hist"], 0.50),
        "p95_ms": livestats.percentile(merged["hist"], 0.95),
        "p99_ms": livestats.percentile(merged["hist"], 0.99),
    }


def find_knee(
    table: list[dict[str, Any]], p99_ms: float, max_failure_ratio: float, min_growth: float
) -> dict[str, Any]:
    """The capacity (orders/s) before the first degraded step, and why that step degraded."""
    best: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    for row in table:
        reason = _degraded(row, previous, p99_ms, max_failure_ratio, min_growth)
        if reason:
            return _verdict(best, row, reason)
        if best is None or row["served_per_s"] > best["served_per_s"]:
            best = row
        previous = row
    return _verdict(best, None, None)


def latency_or_failures(row: dict[str, Any], p99_ms: float, max_failure_ratio: float) -> str | None:
    """Why a measured step degraded by its orders' P99 or failures (the knee's first two
    criteria), or None. Requests still open at the step's end count at their age."""
    if not row["requests"]:
        return "no order completed during the step"
    if row["p99_ms"] > p99_ms:
        return f"P99 {row['p99_ms']} ms over {p99_ms} ms"
    if row["failure_ratio"] > max_failure_ratio:
        return f"failure ratio {row['failure_ratio']} over {max_failure_ratio}"
    return None


def _degraded(
    row: dict[str, Any],
    previous: dict[str, Any] | None,
    p99_ms: float,
    max_failure_ratio: float,
    min_growth: float,
) -> str | None:
    reason = latency_or_failures(row, p99_ms, max_failure_ratio)
    if reason:
        return reason
    if previous is not None:
        extra_offered = row["offered_per_s"] - previous["offered_per_s"]
        extra_served = row["served_per_s"] - previous["served_per_s"]
        if extra_served < min_growth * extra_offered:
            return (
                f"served rate grew by {extra_served:.2f} orders/s for {extra_offered:.2f} more "
                f"offered (less than {min_growth:.0%} of it)"
            )
    return None


def _verdict(
    best: dict[str, Any] | None, knee: dict[str, Any] | None, reason: str | None
) -> dict[str, Any]:
    return {
        "orders_per_s": best["served_per_s"] if best else None,
        "at_users": best["users"] if best else None,
        "knee_reached": knee is not None,
        "knee_users": knee["users"] if knee else None,
        "knee_reason": reason,
    }


def format_table(record: dict[str, Any]) -> str:
    """The figure and the per-step evidence, for a terminal."""
    bound = "" if record.get("knee_reached") else " (at least: no step degraded)"
    lines = [
        f"Capacity: {record.get('orders_per_s')} orders/s at {record.get('at_users')} users{bound}",
    ]
    if record.get("knee_reached"):
        lines.append(f"Knee at {record['knee_users']} users: {record['knee_reason']}")
    lines.append(
        f"{'users':>6} {'offered/s':>10} {'served/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'failures':>9}"
    )
    for row in record.get("steps", []):
        lines.append(
            f"{row['users']:>6} {row['offered_per_s']:>10} {row['served_per_s']:>9} "
            f"{_cell(row['p50_ms'])} {_cell(row['p95_ms'])} {_cell(row['p99_ms'])} "
            f"{_cell(row['failure_ratio'], 9)}"
        )
    if record.get("measured_at"):
        lines.append(f"Measured {record['measured_at']}; evidence in {record.get('run_dir')}")
    return "\n".join(lines)


def _cell(value: Any, width: int = 8) -> str:
    return f"{'-' if value is None else value:>{width}}"


def main(argv: list[str] | None = None) -> int:
    """Print the saved searched capacity (``--file`` another one)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        configured = args[args.index("--file") + 1] if "--file" in args else None
        target = load_target()
        path = capacityfile.capacity_path(target, configured)
        print(capacityfile.format_record(capacityfile.load_capacity(path, target)))
    except (GamedayError, IndexError) as exc:
        print(
            f"capacity: {exc or 'usage: python -m gameday.capacity [--file PATH]'}", file=sys.stderr
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
