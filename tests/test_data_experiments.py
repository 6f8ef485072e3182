"""The database, cache and aggregator experiments end to end in the quick profile (issue 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday import seed
from tests.test_experiments import chaos_quick, passed

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
OVERRIDES = Path("/etc/coffee-chaos")


def test_db_write_stress(lab, tmp_path):
    runs = passed(*chaos_quick("db-write-stress", tmp_path), tmp_path)
    inserts = runs["inserts-per-second"]["output"]
    assert inserts["inserted"] > 0 and inserts["inserts_per_s"] > 0
    orders = runs["orders-p99-and-failures-under-write-stress"]["output"]
    assert orders["p99_ms"] <= 200 and orders["codes"].keys() == {"200"}
    assert runs["no-acknowledged-order-lost"]["output"]["missing_count"] == 0
    before = runs["orders-table-size-before"]["output"]["table_bytes"]
    assert runs["orders-table-size-after"]["output"]["table_bytes"] >= before
    assert runs["postgresql-processes"]["output"]["rss_bytes"] > 0


@pytest.mark.extended  # a second aggregator experiment: CI runs aggregator-under-pressure
def test_aggregator_lock_contention(lab, tmp_path):
    runs = passed(*chaos_quick("aggregator-lock-contention", tmp_path), tmp_path)
    seeded = runs["seed-orders"]["output"]
    assert seeded["rows"] == 100_000 and seeded["changed"]
    waits = runs["lock-waits-stay-under-the-bound"]["output"]
    assert waits["longest_wait_s"] <= 0.5 and waits["samples"] >= 100
    assert runs["aggregator-pass-under-load"]["output"]["passes_seen"] >= 1
    assert runs["remove-seeded-orders"]["output"]["removed"] == 100_000
    assert seed.seeds(lab) == []


@pytest.mark.extended  # a second database experiment: CI runs db-write-stress
def test_pool_exhaustion(lab, tmp_path):
    runs = passed(*chaos_quick("exhaust-api-pool", tmp_path), tmp_path)
    exhausted = runs["pool-exhausted-answers"]["output"]
    assert exhausted["codes"].get("503", 0) > 0, "the small pool really ran dry"
    assert set(exhausted["codes"]) <= {"200", "503"}
    assert runs["answers-within-the-pool-timeout"]["output"]["p99_ms"] <= 1500
    recovered = runs["orders-succeed-once-load-drops"]["output"]
    assert recovered["failure_ratio"] == 0 and recovered["p99_ms"] <= 200
    assert not (OVERRIDES / "api.override.env").exists(), "the API runs on its own pool again"


@pytest.mark.extended  # a second cache experiment: CI runs cache-invalidation
def test_cache_effectiveness(lab, tmp_path):
    runs = passed(*chaos_quick("cache-effectiveness", tmp_path), tmp_path)
    assert runs["warm-cache-redis-hits"]["output"]["hit_ratio"] >= 0.9
    cold = runs["cold-cache-redis-misses"]["output"]
    assert cold["misses"] > cold["hits"], "with the keys gone, the dashboard reads miss"
    dropped = runs["empty-the-dashboard-cache-timing-warm-and-cold"]["output"]
    assert dropped["deleted"] == 3
    assert dropped["cold_to_warm_p50"] > 0 and dropped["cold_to_warm_p99"] > 0
    assert dropped["cold"]["statuses"] == {"200": 50}
    assert runs["dashboard-fresh-again"]["output"]["dashboard_s"] <= 15


def test_cache_invalidation(lab, tmp_path):
    runs = passed(*chaos_quick("cache-invalidation", tmp_path), tmp_path)
    markers = runs["every-marker-order-shown-in-time"]["output"]
    assert 0 < markers["worst_s"] <= markers["max_s"] == 15
    assert markers["shown"] == markers["markers"] >= 15


def test_aggregator_under_pressure(lab, tmp_path):
    runs = passed(*chaos_quick("aggregator-under-pressure", tmp_path), tmp_path)
    assert runs["seed-orders"]["output"]["rows"] == 100_000
    assert 0 < runs["pass-duration-on-the-big-table"]["output"]["pass_s"] <= 10
    memory = runs["aggregator-memory-stays-flat-during-passes"]["output"]
    assert memory["peak_rss_bytes"] >= memory["first_rss_bytes"] > 0
    assert runs["redis-write-latency-during-passes"]["output"]["samples"] == 200
    assert runs["api-p99-while-passes-run"]["output"]["p99_ms"] <= 200
    assert runs["remove-seeded-orders"]["output"]["removed"] == 100_000
    assert not (OVERRIDES / "aggregator.override.env").exists()
    assert seed.seeds(lab) == []


def test_metrics_cardinality(lab, tmp_path):
    runs = passed(*chaos_quick("metrics-cardinality", tmp_path), tmp_path)
    diverse = runs["diverse-orders"]["output"]
    assert set(diverse["valid"]) == {"200"} and set(diverse["invalid"]) == {"422"}
    series = runs["orders-series-stay-bounded"]["output"]
    assert series["series"] <= 12 and series["distinct"]["store"] <= 4
    memory = runs["prometheus-memory-growth"]["output"]
    assert memory["resident_bytes"] > 0 and isinstance(memory["growth_bytes"], int)
