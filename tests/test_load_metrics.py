"""Load metrics for Prometheus (workloads/metrics.py): the collector, then a live run scraped by the lab."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from target_files import write_target

from gameday import ledger, locustrun
from gameday.target import load_target
from workloads.metrics import BUCKETS_S, LoadCollector

THRESHOLDS_S = (0.2, 1.5, 2.0, 2.5)  # p99 threshold, answer bounds, fail-fast
CONTRACT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _exposition(collector: LoadCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_buckets_hold_every_asserted_threshold_and_the_contract_buckets():
    assert set(THRESHOLDS_S) | set(CONTRACT_BUCKETS_S) <= set(BUCKETS_S)
    assert list(BUCKETS_S) == sorted(BUCKETS_S)


def test_collector_counts_requests_failures_and_latency_buckets():
    collector = LoadCollector(lambda: 42, tasks_per_user_s=0.5)
    second = {
        "/api/v1/order": {
            "method": "POST",
            "count": 4,
            "failures": 1,
            "codes": {"200": 3, "503": 1},
            "hist": {"199.0": 2, "200.0": 1, "2490.0": 1},
            "sum_ms": 3088.0,
        },
    }
    collector.feed(second, {"loop_lag_ms": 3.5, "pace_missed": 2})
    collector.feed(second, {"loop_lag_ms": 1.25, "pace_missed": 1})
    text = _exposition(collector)
    assert 'locust_requests_total{code="200",method="POST",name="/api/v1/order"} 6.0' in text
    assert 'locust_requests_total{code="503",method="POST",name="/api/v1/order"} 2.0' in text
    assert 'locust_failures_total{method="POST",name="/api/v1/order"} 2.0' in text
    bucket = 'locust_request_duration_seconds_bucket{le="%s",method="POST",name="/api/v1/order"}'
    assert f"{bucket % '0.1'} 0.0" in text
    assert f"{bucket % '0.2'} 4.0" in text  # 199.x ms is under 0.2 s
    assert f"{bucket % '0.25'} 6.0" in text  # 200.x ms is over it
    assert f"{bucket % '2.0'} 6.0" in text and f"{bucket % '2.5'} 8.0" in text
    assert f"{bucket % '+Inf'} 8.0" in text
    assert 'locust_request_duration_seconds_sum{method="POST",name="/api/v1/order"} 6.176' in text
    assert "locust_users 42.0" in text
    assert "locust_offered_per_second 21.0" in text  # 42 users paced at 0.5 tasks/s
    assert "locust_loop_lag_seconds 0.00125" in text  # the newest second's
    assert "locust_pace_missed_total 3.0" in text


@pytest.mark.lab
def test_a_live_run_is_scraped_by_the_lab_prometheus(lab, tmp_path):
    target = load_target(write_target(tmp_path))
    started = time.time()
    run = locustrun.start(
        tmp_path / "run", target.api_url, 5, 5, 40, {"RushHourCustomer": 1}, target
    )
    try:
        assert run["metrics_url"] == "http://127.0.0.1:9646/metrics"
        time.sleep(2)
        text = requests.get(run["metrics_url"], timeout=5).text
        assert 'locust_requests_total{code="200",method="POST",name="/api/v1/order"}' in text
        assert 'le="0.2",method="POST",name="/api/v1/order"' in text
        assert "locust_users 5.0" in text
        # the sample's own time, so that a series left by an earlier run does not count
        query = 'timestamp(locust_requests_total{job="locust",name="/api/v1/order",code="200"})'
        deadline = time.monotonic() + 30
        while True:
            answer = requests.get(
                f"{target.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
            ).json()
            series = answer["data"]["result"]
            if (
                series
                and float(series[0]["value"][0]) > started
                and float(series[0]["value"][1]) > 0
            ):
                break
            assert time.monotonic() < deadline, f"Prometheus has no fresh {query}: {answer}"
            time.sleep(1)
    finally:
        locustrun.stop(target)
    assert ledger.ledger_for(target).entries() == []
    with pytest.raises(requests.ConnectionError):
        requests.get(run["metrics_url"], timeout=2)  # gone with the run
