"""probes.freshness measures freshness with marker orders it places, on the real café (lab)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from chaoslib.exceptions import ActivityFailed

from gameday import services
from probes import freshness

pytestmark = pytest.mark.lab


def _order_stamped(api_url: str, offset: timedelta) -> int:
    stamp = (datetime.now(UTC) + offset).isoformat()
    body = {"drink": "americano", "store": "uptown", "price": 3.5, "timestamp": stamp}
    answer = requests.post(f"{api_url}/api/v1/order", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def test_a_marker_shows_on_the_dashboard_and_in_a_push_within_an_interval(lab):
    facts = freshness.marker_shown_within(15, websocket_within_s=25)
    assert 0 < facts["dashboard_s"] <= 15 and 0 < facts["websocket_s"] <= 25
    assert facts["marker_id"] > 0


def test_orders_stamped_an_hour_ahead_or_behind_change_no_freshness_figure(lab):
    """The client's clock never meets the toolkit's: a marker is found by its id."""
    ahead = _order_stamped(lab.api_url, timedelta(hours=1))
    behind = _order_stamped(lab.api_url, timedelta(hours=-1, minutes=-5))
    facts = freshness.marker_shown_within(15)
    assert facts["dashboard_s"] <= 15 and facts["marker_id"] > max(ahead, behind)
    services.stop("aggregator", lab)
    try:
        _order_stamped(lab.api_url, timedelta(hours=1))  # newest by its stamp, never shown
        stale = freshness.dashboard_stays_stale(3)
    finally:
        services.start("aggregator", lab)
    assert stale["polls"] >= 3 and stale["recent_orders"] > 0


def test_a_dashboard_that_refreshes_is_not_stale(lab):
    """With the aggregator running, the marker shows within a pass: the expectation of a
    stale cache (the aggregator down) fails and says what happened."""
    with pytest.raises(ActivityFailed) as exc:
        freshness.dashboard_stays_stale(12)
    assert "is something else refreshing the cache?" in str(exc.value)


def test_markers_placed_every_second_are_each_shown_in_time(lab):
    facts = freshness.freshness_stays_under(3, max_s=15)
    assert facts["markers"] >= 3 and facts["shown"] == facts["markers"]
    assert facts["worst_s"] <= 15


def test_a_marker_never_shown_is_an_unmet_expectation(lab):
    services.stop("aggregator", lab)
    try:
        started = time.monotonic()
        with pytest.raises(ActivityFailed) as exc:
            freshness.marker_shown_within(2)
    finally:
        services.start("aggregator", lab)
    assert "expected the dashboard to show marker order" in str(exc.value)
    assert time.monotonic() - started < 5
