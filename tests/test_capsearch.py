"""The capacity search's logic (gameday.capsearch) against simulated targets: doubling then
bisecting to the knee, a bad step measured again, the load generator's limit, bad settings.

The search with real Locust against real cafés is in tests/test_load_experiments.py."""

from __future__ import annotations

import pytest

from gameday import capsearch
from gameday.capacityfile import CapacityError, format_record

PLAN = capsearch.SearchPlan(start_rate=25, precision=0.05, user_rate_s=1, min_rate=2)


class Simulated:
    """A target that serves up to ``capacity`` orders/s, its P99 over 200 ms from ``knee``
    (a share of it) on, behind a load generator that offers at most ``generator_limit`` orders/s
    per worker configuration (None: no limit)."""

    def __init__(self, capacity, knee=1.0, generator_limit=None, noisy_at=()):
        self.capacity, self.knee, self.noisy_at = capacity, knee, list(noisy_at)
        self.generator_limit = generator_limit or {}
        self.workers = 0
        self.asked: list[tuple[float, str]] = []

    def step(self, rate, phase):
        self.asked.append((rate, phase))
        limit = self.generator_limit.get(self.workers)
        sent = rate if limit is None else min(rate, limit)
        served = min(sent, self.capacity)
        slow = rate >= self.knee * self.capacity or rate in self.noisy_at
        if rate in self.noisy_at:
            self.noisy_at.remove(rate)  # a GC pause: once only
        return {
            "phase": phase,
            "offered_per_s": rate,
            "sent_per_s": sent,
            "served_per_s": served,
            "requests": int(served * 30),
            "failure_ratio": 0.0,
            "p50_ms": 10.0,
            "p99_ms": 900.0 if slow else 20.0,
            "generator": {
                "workers": self.workers,
                "cpu_cores_max": 0.3,
                "locust_cpu_cores": 0.3,
                "loop_lag_ms_p90": 1.0,
                "pace_missed": 0,
            },
        }

    def more_workers(self):
        if self.workers >= 2:
            return None
        self.workers = 2
        return 2


def test_doubles_until_a_step_degrades_then_bisects_to_the_precision():
    target = Simulated(capacity=300)
    record = capsearch.search(PLAN, target.step, target.more_workers)
    low, high = record["interval_orders_per_s"]
    assert low < 300 <= high and (high - low) <= 0.05 * low
    assert record["orders_per_s"] == low and record["limited_by"] == "target"
    assert "P99 900.0 ms over 200" in record["knee_reason"]
    rates = [rate for rate, phase in target.asked if phase == "doubling"]
    assert rates == [25, 50, 100, 200, 400]
    assert record["first_bad"] == {"offered_per_s": 400, "reason": record["steps"][4]["reason"]}
    assert {row["phase"] for row in record["steps"]} == {"doubling", "again", "bisecting"}
    assert record["summary"].startswith(f"Capacity {low} orders/s: good at {low}, degraded at")
    assert len(record["steps"]) <= 13


def test_a_target_that_degrades_earlier_gets_a_lower_capacity():
    early = capsearch.search(PLAN, *_of(Simulated(capacity=300, knee=0.5)))
    assert 0.95 * 150 <= early["orders_per_s"] < 150 <= early["interval_orders_per_s"][1]


def test_every_bad_step_is_measured_again_and_a_noisy_one_does_not_end_the_search():
    target = Simulated(capacity=300, noisy_at=[100])
    record = capsearch.search(PLAN, target.step, target.more_workers)
    assert record["remeasured"][0] == {
        "offered_per_s": 100,
        "first": "bad",
        "then": "good",
        "why_first": "P99 900.0 ms over 200 ms",
    }
    assert all(r["first"] == "bad" for r in record["remeasured"])
    assert record["first_bad"]["offered_per_s"] == 400  # 100 was noise, not the first bad
    assert 0.95 * 300 <= record["orders_per_s"] < 300


def test_a_limited_generator_gets_workers_then_the_search_goes_on():
    target = Simulated(capacity=300, generator_limit={0: 150, 2: None})
    record = capsearch.search(PLAN, target.step, target.more_workers)
    assert target.workers == 2 and record["limited_by"] == "target"
    bound = [row for row in record["steps"] if row["verdict"] == "generator"]
    assert [row["offered_per_s"] for row in bound] == [200]
    assert "the users sent 150 orders/s of the 200 offered" in bound[0]["reason"]
    assert 0.95 * 300 <= record["orders_per_s"] < 300


def test_a_generator_limited_at_every_worker_count_is_never_the_targets_capacity():
    target = Simulated(capacity=300, generator_limit={0: 150, 2: 180})
    record = capsearch.search(PLAN, target.step, target.more_workers)
    assert record["orders_per_s"] is None and record["limited_by"] == "load generator"
    assert record["generator_limit_orders_per_s"] == 180
    assert record["summary"].startswith("Limited by the load generator at 180 orders/s")
    assert "not the target's capacity: the target served 100 orders/s" in record["summary"]
    assert "Limited by the load generator at 180 orders/s" in format_record(record)


def test_a_first_step_that_degrades_halves_down_to_min_rate():
    record = capsearch.search(PLAN, *_of(Simulated(capacity=5)))
    low, high = record["interval_orders_per_s"]
    assert [row["offered_per_s"] for row in record["steps"] if row["phase"] == "halving"][:1] == [
        12
    ]
    assert 5 <= high and low < 5 and record["orders_per_s"] == low
    nothing = capsearch.search(PLAN, *_of(Simulated(capacity=1)))
    assert nothing["orders_per_s"] is None and nothing["interval_orders_per_s"][0] == 0
    assert nothing["summary"].startswith("Capacity below 3")


def test_no_knee_up_to_max_rate_is_no_capacity():
    plan = capsearch.SearchPlan(start_rate=25, max_rate=150, user_rate_s=1, min_rate=2)
    record = capsearch.search(plan, *_of(Simulated(capacity=1000)))
    assert [row["offered_per_s"] for row in record["steps"]] == [25, 50, 100, 150]
    assert record["orders_per_s"] is None and record["limited_by"] == "max_orders_per_s"
    assert "No knee up to max_orders_per_s" in record["summary"]


def test_served_short_of_offered_is_queueing_and_open_requests_count():
    row = Simulated(capacity=100).step(120, "doubling")
    row["p99_ms"] = 20.0
    assert capsearch.judge(row, PLAN) == (
        "bad",
        "served 100 orders/s of the 120 offered (short by more than 5%: queueing)",
    )
    row["served_per_s"] = 115
    assert capsearch.judge(row, PLAN) == ("good", None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"precision": 0}, "precision must be a number from 0.005 to 1, got 0"),
        ({"step_s": 5.5}, "step_s must be a whole number from 4 to 3600, got 5.5"),
        ({"step_s": 10, "settle_s": 8}, "at least 3 s: step_s (10) minus settle_s (8) is 2"),
        ({"start_rate": 1}, "start_rate (1) must lie between min_rate (2)"),
        ({"min_rate": 1, "start_rate": 5}, "min_rate (1) must be at least user_rate_s (2)"),
        ({"max_workers": -1}, "max_workers must be a whole number from 0 to 64"),
        ({"p99_ms": True}, "p99_ms must be a number"),
        ({"served_margin": 1}, "served_margin must be a number from 0 to 0.9"),
    ],
)
def test_bad_settings_are_refused_naming_them(settings, message):
    with pytest.raises(CapacityError) as refused:
        capsearch.SearchPlan(**settings)
    assert message in str(refused.value)


def _of(target: Simulated):
    return target.step, target.more_workers
