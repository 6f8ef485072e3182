"""Every probe and action that writes real orders is bounded, and says so before sending any.

The target's API is a port nothing listens on: an unbounded call would fail on its first
order instead of being refused, so these tests never write to the lab.
"""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import free_port, write_target

from actions import orders
from probes import freshness, http


@pytest.fixture
def nowhere(tmp_path) -> dict:
    return write_target(tmp_path, api_url=f"http://127.0.0.1:{free_port()}")


def test_markers_placed_by_freshness_stays_under_are_bounded(nowhere):
    with pytest.raises(ActivityFailed) as exc:
        freshness.freshness_stays_under(600, max_s=15, every_s=0.01, configuration=nowhere)
    message = str(exc.value)
    assert f"at most {http.MAX_ORDERS} marker orders" in message and "60000" in message


def test_orders_placed_by_place_diverse_orders_are_bounded(nowhere):
    with pytest.raises(ActivityFailed) as exc:
        orders.place_diverse_orders(duration_s=3600, rate_per_s=2000, configuration=nowhere)
    message = str(exc.value)
    assert f"at most {orders.MAX_ORDERS:,} orders" in message and "7,200,000" in message


def test_sampled_orders_are_bounded(nowhere):
    with pytest.raises(ActivityFailed) as exc:
        http.sampled_latency(http.ORDERS, samples=http.MAX_ORDERS + 1, configuration=nowhere)
    assert f"from 1 to {http.MAX_ORDERS}" in str(exc.value)
