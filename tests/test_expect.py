"""Expectations fail when the behaviour they expect is absent (here: a healthy café)."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from probes import expect

pytestmark = pytest.mark.lab


def test_readyz_names_failure_raises_while_everything_is_up(lab):
    with pytest.raises(ActivityFailed) as exc:
        expect.readyz_names_failure(dependency="redis")
    assert "expected /readyz to answer 503 naming redis, got 200" in str(exc.value)


def test_unknown_dependency_is_refused(lab):
    with pytest.raises(ActivityFailed) as exc:
        expect.readyz_names_failure(dependency="mongodb")
    assert "mongodb" in str(exc.value) and "redis or postgresql" in str(exc.value)


def test_dashboard_fails_gracefully_raises_when_the_dashboard_answers(lab):
    with pytest.raises(ActivityFailed) as exc:
        expect.dashboard_fails_gracefully(max_ms=2000)
    assert "expected the dashboard to answer 503" in str(exc.value) and "got 200" in str(exc.value)


def test_order_fails_fast_raises_when_orders_are_accepted(lab):
    with pytest.raises(ActivityFailed) as exc:
        expect.order_fails_fast(max_ms=2000)
    assert "expected an order to fail fast with 503" in str(exc.value) and "got 200" in str(
        exc.value
    )


def test_healthy_answers_meet_their_expectations(lab):
    assert expect.dashboard_is_served(max_ms=2000)["status"] == 200
    assert expect.order_is_accepted(max_ms=2000)["id"] is not None
    assert expect.readyz_answers_within(max_ms=2000)["status"] == 200


def test_sampled_latency_of_orders_counts_failures(lab):
    facts = expect.sampled_latency(path="/api/v1/order", samples=5)
    assert facts["statuses"] == {"200": 5}
    assert facts["failure_ratio"] == 0
    assert 0 < facts["p50_ms"] <= facts["p99_ms"] <= facts["max_ms"]


def test_load_expectations_need_a_running_load(lab):
    with pytest.raises(ActivityFailed) as exc:
        expect.load_is_healthy(window_s=5, p99_ms=200, max_failure_ratio=0.01)
    assert "start_load" in str(exc.value)
