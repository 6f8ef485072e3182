"""Data-layer probes and actions against the real lab: PostgreSQL, Redis, processes,
Prometheus, the aggregator's metrics, environment overrides, the cache drop, diverse orders."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import psutil
import psycopg
import pytest
import redis
from chaoslib.exceptions import ActivityFailed

from actions import cache as cache_actions
from actions import config
from actions import orders as order_actions
from gameday import ledger, services
from gameday.cachekeys import contract_keys
from gameday.postgres import dsn_for, sanitise
from gameday.target import load_secrets
from probes import aggregator, http, postgres, process, prometheus
from probes import redis as redis_probes

pytestmark = pytest.mark.lab


def test_sanitise_hides_the_dsn_and_any_password():
    dsn = "postgresql://coffee:s3cret-pw@127.0.0.1:5432/coffee"
    message = f"failed for {dsn}; password=s3cret-pw; host=x password='other one'"
    clean = sanitise(message, dsn)
    assert "s3cret-pw" not in clean and "other one" not in clean and "***" in clean


def test_connections_by_state_and_application(lab):
    assert http.place_order()["status"] == 200  # the API's pool has connections in use
    facts = postgres.connections()
    assert facts["by_application"].get("refcafe-api", 0) >= 1
    assert facts["total"] == sum(facts["by_state"].values()) and facts["max_connections"] > 0
    only_api = postgres.connections(application_name="refcafe-api")
    assert set(only_api["by_application"]) == {"refcafe-api"}


def test_lock_waits_see_a_real_wait_and_the_bound_raises(lab):
    dsn = dsn_for(lab)
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE coffee_rt.orders IN ACCESS EXCLUSIVE MODE")
        waiter = threading.Thread(target=_wait_for_lock, args=(dsn,))
        waiter.start()
        time.sleep(0.6)
        now = postgres.lock_waits()
        with pytest.raises(ActivityFailed) as exc:
            postgres.lock_waits_stay_under(duration_s=0.3, max_wait_s=0.2, interval_s=0.1)
        holder.rollback()
    waiter.join(10)
    assert now["waiting"] >= 1 and now["longest_wait_s"] >= 0.4
    assert now["waits"][0]["relation"] == "coffee_rt.orders"
    assert "expected PostgreSQL lock waits under 0.2 s" in str(exc.value)
    calm = postgres.lock_waits_stay_under(duration_s=0.3, max_wait_s=0.2, interval_s=0.1)
    assert calm["longest_wait_s"] == 0 and calm["samples"] >= 2


def _wait_for_lock(dsn: str) -> None:
    with psycopg.connect(dsn, application_name="test-lock-waiter") as conn:
        conn.execute("SELECT count(*) FROM coffee_rt.orders")


def test_inserts_per_second_counts_committed_rows(lab):
    dsn = dsn_for(lab)
    inserter = threading.Timer(0.3, _insert_rows, args=(dsn, 7))
    inserter.start()
    try:
        facts = postgres.inserts_per_second(window_s=1.0)
    finally:
        inserter.join()
        _delete_test_rows(dsn)
    assert facts["inserted"] == 7 and facts["inserts_per_s"] > 0


def _insert_rows(dsn: str, count: int) -> None:
    with psycopg.connect(dsn) as conn:
        for _ in range(count):
            conn.execute(
                "INSERT INTO coffee_rt.orders (drink, store, price, timestamp) "
                "VALUES ('test-probe', 'central', 1, now())"
            )


def _delete_test_rows(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM coffee_rt.orders WHERE drink = 'test-probe'")


def test_table_size_and_a_missing_table(lab):
    facts = postgres.table_size()
    assert facts["total_bytes"] >= facts["table_bytes"] > 0
    assert "coffee_rt.orders_timestamp_idx" in facts["indexes"]
    with pytest.raises(ActivityFailed) as exc:
        postgres.table_size(table="no_such_table")
    assert "table coffee_rt.no_such_table does not exist" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        postgres.table_size(table="orders; drop")
    assert "is not a plain SQL identifier" in str(exc.value)


def test_a_wrong_password_never_shows(lab):
    wrong = psycopg.conninfo.make_conninfo(dsn_for(lab), password="hidden-Pass-77")
    with pytest.raises(ActivityFailed) as exc:
        postgres.connections(secrets={"coffee": {"postgres_dsn": wrong}})
    assert "password authentication failed" in str(exc.value)
    assert "hidden-Pass-77" not in str(exc.value)


def test_the_dashboard_of_a_healthy_cafe_is_one_pass(lab):
    facts = postgres.dashboard_is_one_snapshot()
    assert facts["dashboard_order_count"] == pytest.approx(
        facts["stored_up_to_newest_recent"], abs=5
    )
    assert facts["newest_recent_id"] > 0


def test_a_dashboard_count_that_runs_ahead_of_its_recent_orders_is_two_passes(lab):
    """Half a cache: the hour's count of a newer pass beside the recent orders of an older one
    (what a cache written key by key leaves when the aggregator dies between the keys)."""
    client = redis.Redis.from_url(load_secrets(lab)["redis_url"])
    services.stop("aggregator", lab)  # nothing rewrites the keys meanwhile
    try:
        key = f"metrics:hourly:{datetime.now(UTC).hour}"
        saved = client.get(key)
        figures = json.loads(saved)
        figures["order_count"] += 40
        client.set(key, json.dumps(figures), keepttl=True)
        try:
            with pytest.raises(ActivityFailed) as exc:
                postgres.dashboard_is_one_snapshot()
        finally:
            client.set(key, saved, keepttl=True)
    finally:
        services.start("aggregator", lab)
    assert "the cache mixes passes" in str(exc.value)
    assert "order_count" in str(exc.value)


def test_redis_key_ages_memory_and_stats(lab):
    client = redis.Redis.from_url(load_secrets(lab)["redis_url"])
    client.set("test:probe:age", "x", ex=100)
    time.sleep(1.1)
    try:
        ages = redis_probes.key_ages(
            keys=["test:probe:age", "test:probe:none"], written_ttls={"test:probe:*": 100}
        )
        stats_before = redis_probes.redis_stats()
        client.get("test:probe:age")
        client.get("test:probe:none")
    finally:
        client.delete("test:probe:age")
    assert ages["test:probe:age"]["exists"] and 1 <= ages["test:probe:age"]["age_s"] < 3
    assert ages["test:probe:none"] == {"exists": False, "ttl_s": None, "age_s": None}
    contract = redis_probes.key_ages()
    assert set(contract) == set(contract_keys())
    assert redis_probes.redis_stats()["hits"] >= stats_before["hits"] + 1
    memory = redis_probes.redis_memory()
    assert memory["used_memory_bytes"] > 0 and memory["keys"] >= 1
    windowed = redis_probes.redis_stats(window_s=0.5)
    assert windowed["window_s"] >= 0.5 and windowed["ops_per_s"] >= 0
    with pytest.raises(ActivityFailed) as exc:
        redis_probes.redis_stats(window_s=-1)
    assert "window_s must be in" in str(exc.value)


def test_redis_write_latency_leaves_no_key(lab):
    facts = redis_probes.redis_write_latency(samples=20, interval_s=0)
    assert 0 < facts["p50_ms"] <= facts["p99_ms"] <= facts["max_ms"]
    client = redis.Redis.from_url(load_secrets(lab)["redis_url"])
    assert not client.keys(f"{redis_probes.SCRATCH_PREFIX}*")


def test_redis_unreachable_is_named(lab):
    with pytest.raises(ActivityFailed) as exc:
        redis_probes.redis_memory(
            secrets={"coffee": {"postgres_dsn": "x", "redis_url": "redis://127.0.0.1:1"}}
        )
    assert "Redis: cannot read INFO memory" in str(exc.value)


def test_process_usage_by_service_includes_children(lab):
    facts = process.process_usage("postgresql")
    assert facts["processes"] > 1, "PostgreSQL's backends are children of the postmaster"
    assert facts["rss_bytes"] > 0 and facts["threads"] >= facts["processes"] and facts["fds"] > 0
    api = process.process_usage("api")
    assert api["pid"] == services.status("api", lab)["pid"]
    over = process.process_usage_over("api", duration_s=0.3, interval_s=0.1)
    assert over["samples"] >= 2 and over["peak_rss_bytes"] >= over["first_rss_bytes"]
    with pytest.raises(ActivityFailed) as exc:
        process.process_usage("nosuch")
    assert "unknown service 'nosuch'" in str(exc.value) and "aggregator" in str(exc.value)


def test_prometheus_series_and_memory(lab):
    up = prometheus.series_count("up", labels=["job"])
    assert up["series"] >= 5 and up["distinct"]["job"] >= 5
    with pytest.raises(ActivityFailed) as exc:
        prometheus.series_count_at_most(1, metric="up")
    assert "expected up to have at most 1 series" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        prometheus.series_count("up{job='x'}")
    assert "is not a Prometheus metric or label name" in str(exc.value)
    assert prometheus.series_count("no_such_metric_anywhere")["series"] == 0
    memory = prometheus.prometheus_memory()
    assert memory["resident_bytes"] > 10_000_000 and memory["head_series"] > 0
    with pytest.raises(ActivityFailed) as exc:
        prometheus.prometheus_memory(job="nosuchjob")
    assert "no process_resident_memory_bytes for job 'nosuchjob'" in str(exc.value)


def test_aggregator_passes(lab):
    last = aggregator.aggregator_last_pass()
    assert last["successful_passes"] >= 1 and last["last_success_age_s"] < 60
    assert last["mean_pass_s"] > 0 and last["passes"]["success"] == last["successful_passes"]
    with pytest.raises(ActivityFailed) as exc:
        aggregator.aggregator_next_pass(timeout_s=25, max_duration_s=0.000001)
    assert "expected an aggregator pass to take at most" in str(exc.value)
    assert aggregator.aggregator_last_pass()["successful_passes"] > last["successful_passes"]
    with pytest.raises(ActivityFailed) as exc:
        aggregator.aggregator_last_pass(metrics_url="http://127.0.0.1:1/metrics")
    assert "reference café's aggregator metrics (optional)" in str(exc.value)


def test_override_service_env_then_clear(lab):
    """Bad input is refused before anything changes; an allowed variable reaches the
    restarted program and is gone after the clear (the masking: tests/test_overrides.py)."""
    path = "/etc/coffee-chaos/aggregator.override.env"
    hold = "AGGREGATOR_HOLD_SECONDS"
    for bad, words in (
        ({}, "env must be a non-empty mapping"),
        ({"lower": 1}, "name 'lower' must be upper case"),
        ({hold: "two\nlines"}, f"value of {hold} must be a single line"),
        ({hold: None}, f"value of {hold} must be a string or a number"),
        ({"LD_PRELOAD": "x.so"}, "LD_PRELOAD may not be overridden"),
    ):
        with pytest.raises(ActivityFailed) as exc:
            config.override_service_env("aggregator", bad)
        assert words in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        config.override_service_env("nosuch", {hold: 1})
    assert "unknown service 'nosuch'" in str(exc.value)
    assert not ledger.ledger_for(lab).entries(), "refused input records nothing"
    result = config.override_service_env("aggregator", {hold: "0.25"})
    try:
        env = psutil.Process(services.status("aggregator", lab)["pid"]).environ()
        assert env[hold] == "0.25"
        mode = oct(__import__("os").stat(path).st_mode & 0o777)
        assert mode == "0o600"
        assert [e["kind"] for e in ledger.ledger_for(lab).entries()] == ["override"]
    finally:
        cleared = config.clear_service_env_override("aggregator")
    assert cleared["changed"] and cleared["resolved"] == [result["ledger_id"]]
    env = psutil.Process(services.status("aggregator", lab)["pid"]).environ()
    assert env[hold] != "0.25"
    assert config.clear_service_env_override("aggregator")["changed"] is False


def test_recover_reverts_an_override(lab):
    config.override_service_env("aggregator", {"AGGREGATOR_HOLD_SECONDS": "0.25"})
    reverted = ledger.recover(lab)
    assert [r["kind"] for r in reverted] == ["override"]
    env = psutil.Process(services.status("aggregator", lab)["pid"]).environ()
    assert env["AGGREGATOR_HOLD_SECONDS"] != "0.25"


def test_drop_dashboard_cache_is_refilled_by_the_aggregator(lab):
    client = redis.Redis.from_url(load_secrets(lab)["redis_url"])
    assert client.exists(*contract_keys()) == 3, "the running aggregator keeps the cache"
    result = cache_actions.drop_dashboard_cache(samples=5)
    try:
        assert result["deleted"] == 3 and not client.exists(*contract_keys())
        assert result["cold"]["statuses"] == {"200": 5} and result["cold_to_warm_p50"] > 0
        assert [e["kind"] for e in ledger.ledger_for(lab).entries()] == ["service"]
    finally:
        started = services.start("aggregator", lab)
    assert started["resolved"] == [result["ledger_id"]]
    deadline = time.monotonic() + 25
    while client.exists(*contract_keys()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.exists(*contract_keys()) == 3, "the aggregator's first pass refills the cache"


def test_diverse_orders_invalid_ones_are_refused(lab):
    with pytest.raises(ActivityFailed) as exc:
        order_actions.place_diverse_orders(duration_s=1, invalid_share=2)
    assert "invalid_share must be in [0, 1]" in str(exc.value)
    facts = order_actions.place_diverse_orders(duration_s=1.5, rate_per_s=40, workers=2)
    json.dumps(facts)
    assert set(facts["valid"]) == {"200"} and set(facts["invalid"]) == {"422"}
    total = sum(facts["valid"].values()) + sum(facts["invalid"].values())
    assert 20 <= total <= 80, "paced at about rate_per_s"
