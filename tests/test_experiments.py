"""Every experiment validates, and runs end to end against the lab in the quick profile."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from gameday import ledger
from tests.chaosrun import CHAOS, REPO, finish, journal, launch_file, wait_for

EXPERIMENTS = sorted((REPO / "experiments").glob("*.json"))
QUICK = REPO / "experiments" / "vars" / "quick.yaml"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_validates(path):
    result = subprocess.run(
        [CHAOS, "validate", str(path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(path.read_text())
    controls = [c["provider"]["module"] for c in body["controls"]]
    assert controls[0] == "controls.safety", "the safety control must come first"
    assert "chaosaddons.controls.safeguards" in controls
    assert body["rollbacks"], "every experiment undoes its fault"


def chaos_quick(name: str, workdir: Path, *extra: str) -> tuple[int, dict]:
    """``name`` run in the quick profile; a run over 240 s is stopped (SIGTERM) and fails."""
    process = launch_file(
        REPO / "experiments" / f"{name}.json", workdir, "--var-file", str(QUICK), *extra
    )
    return finish(process, workdir, timeout=240), journal(workdir)


def outputs(journal: dict) -> dict[str, dict]:
    return {run["activity"]["name"]: run for run in journal["run"]}


def completed(code: int, journal: dict, workdir: Path) -> dict[str, dict]:
    """The journal's activities by name, once the run completed without deviating."""
    facts = journal.get("coffee_chaos", {})
    assert code == 0 and journal["status"] == "completed" and not journal["deviated"], (
        f"exit {code}, status {journal['status']}, deviated {journal['deviated']}, "
        f"unmet {facts.get('unmet_expectations')}, failed {facts.get('failed_actions')}; "
        f"see {workdir}/chaostoolkit.log"
    )
    runs = outputs(journal)
    assert all(run["status"] == "succeeded" for run in runs.values())
    assert journal["rollbacks"], "rollbacks ran"
    return runs


def passed(code: int, journal: dict, workdir: Path) -> dict[str, dict]:
    """As ``completed``, and the run's Locust report was kept beside the journal."""
    runs = completed(code, journal, workdir)
    run_dir = Path(journal["coffee_chaos"]["run_dir"])
    assert (run_dir / "locust" / "report.html").exists()
    return runs


@pytest.mark.lab
@pytest.mark.e2e
def test_kill_redis(lab, tmp_path):
    runs = passed(*chaos_quick("kill-redis", tmp_path), tmp_path)
    assert runs["readyz-names-redis"]["output"]["status"] == 503
    assert runs["dashboard-answers-503-with-a-reason"]["output"]["status"] == 503
    assert runs["orders-are-still-accepted"]["output"]["id"] is not None
    assert 0 < runs["time-to-recover"]["output"] <= 10
    pace = runs["answers-keep-their-pace-during-the-fault"]["output"]
    assert pace["answer_ratio"] >= 0.8 and pace["in_flight"] <= pace["count"]
    fresh = runs["dashboard-and-pushes-fresh-again"]["output"]
    assert fresh["dashboard_s"] <= 15 and fresh["websocket_s"] <= 25


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second dependency kill: CI runs kill-redis
def test_kill_postgres(lab, tmp_path):
    runs = passed(*chaos_quick("kill-postgres", tmp_path), tmp_path)
    assert runs["orders-fail-fast-with-503"]["output"]["elapsed_ms"] <= 2000
    assert runs["readyz-names-the-database"]["output"]["status"] == 503
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]
    assert runs["api-recovered-without-a-restart"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("kill-aggregator", marks=pytest.mark.extended),  # CI runs the mid-pass kill
        "kill-aggregator-mid-pass",
    ],
)
def test_aggregator_faults_serve_the_stale_cache(lab, tmp_path, name):
    runs = passed(*chaos_quick(name, tmp_path), tmp_path)
    stale = runs["dashboard-serves-the-stale-cache"]["output"]
    assert stale["polls"] >= 10 and stale["recent_orders"] > 0
    whole = runs["the-cache-is-one-pass-whole"]["output"]
    assert abs(whole["dashboard_order_count"] - whole["stored_up_to_newest_recent"]) <= 5
    fresh = runs["freshness-returns"]["output"]
    assert fresh["dashboard_s"] <= 15 and fresh["websocket_s"] <= 25


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.parametrize(
    "name",
    [pytest.param("delay-redis", marks=pytest.mark.extended), "delay-postgres"],  # CI: one delay
)
def test_latency_is_handled(lab, tmp_path, name):
    runs = passed(*chaos_quick(name, tmp_path), tmp_path)
    assert runs["answers-stay-bounded"]["output"]["p99_ms"] <= 2500
    assert runs["stalled-dependency-answers-stay-bounded"]["output"]["p99_ms"] <= 2500
    assert runs["answers-keep-their-pace-during-the-stall"]["output"]["answer_ratio"] >= 0.5


@pytest.mark.lab
@pytest.mark.e2e
def test_a_threshold_the_system_misses_fails_the_run(lab, tmp_path):
    code, journal = chaos_quick("kill-redis", tmp_path, "--var", "p99_threshold_ms:float=0.01")
    assert code != 0
    assert journal["status"] == "failed"
    assert not any(run["activity"]["name"] == "kill-redis" for run in journal["run"])


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # CI's detection slice runs kill-redis against a café that misbehaves
def test_a_system_that_misbehaves_during_the_fault_deviates(lab, tmp_path):
    """While Redis is down, orders also start failing (PostgreSQL connections reset
    behind the experiment's back): the operators' expectation "orders are still
    accepted" is not met, so the run must deviate, and still clean up."""
    env = {**os.environ, "COFFEE_CHAOS_RUN_DIR": str(tmp_path / "run")}
    process = subprocess.Popen(
        [
            CHAOS,
            "run",
            "--var-file",
            str(QUICK),
            "--journal-path",
            str(tmp_path / "journal.json"),
            "experiments/kill-redis.json",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    toxics = f"{lab.faultproxy_url}/proxies/postgresql/toxics"
    try:
        wait_for(
            lambda: any(e["subject"] == "redis" for e in ledger.ledger_for(lab).entries()),
            timeout=120,
            what="Redis to be killed",
        )
        answer = requests.post(
            toxics,
            json={"name": "misbehave", "type": "reset_peer", "attributes": {"timeout": 0}},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        code = process.wait(timeout=240)
    finally:
        requests.delete(f"{toxics}/misbehave", timeout=5)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert code != 0
    assert journal["status"] == "completed" and journal["deviated"] is True
    unmet = {u["name"]: u for u in journal["coffee_chaos"]["unmet_expectations"]}
    failed = unmet["load-orders-keep-succeeding-during-the-fault"]
    assert "failure ratio <= 0.01" in failed["expected"] and "503" in failed["observed"]
    judged = {run["activity"]["name"] for run in journal["run"]}
    assert {"time-to-recover", "load-is-healthy-after-recovery"} <= judged, "judged to the end"
    assert "start-redis" in [r["activity"]["name"] for r in journal["rollbacks"]]


@pytest.mark.lab
@pytest.mark.e2e
def test_freeze_redis(lab, tmp_path):
    runs = passed(*chaos_quick("freeze-redis", tmp_path), tmp_path)
    frozen = runs["freeze-redis"]["output"]
    assert frozen["signal"] == "SIGSTOP" and frozen["stopped_pids"]
    assert runs["readyz-names-redis"]["output"]["status"] == 503
    assert runs["dashboard-answers-503-with-a-reason"]["output"]["elapsed_ms"] <= 2000
    assert runs["orders-are-still-accepted"]["output"]["id"] is not None
    assert set(runs["thaw-redis"]["output"]["continued_pids"]) >= set(frozen["stopped_pids"])
    assert runs["api-recovered-without-a-restart"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second freeze: CI runs freeze-redis
def test_freeze_postgres(lab, tmp_path):
    runs = passed(*chaos_quick("freeze-postgres", tmp_path), tmp_path)
    frozen = runs["freeze-postgres"]["output"]
    assert len(frozen["stopped_pids"]) > 1, "the postmaster and its workers"
    assert runs["orders-fail-fast-with-503"]["output"]["elapsed_ms"] <= 2000
    assert runs["readyz-names-the-database"]["output"]["status"] == 503
    assert runs["failed-orders-failed-fast"]["output"]["p99_ms"] <= 2000
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_lock_orders_table(lab, tmp_path):
    runs = passed(*chaos_quick("lock-orders-table", tmp_path), tmp_path)
    locked = runs["lock-orders-table"]["output"]
    assert locked["mode"] == "ACCESS EXCLUSIVE" and locked["holder_pid"]
    assert runs["orders-fail-fast-with-503"]["output"]["elapsed_ms"] <= 2000
    assert runs["refused-orders-placed"]["output"]["refused"] == 3
    assert runs["refused-orders-are-not-stored"]["output"] == {"refused": 3, "stored": 0}
    assert runs["unlock-orders-table"]["output"]["changed"] is True
    assert 0 < runs["time-to-recover"]["output"] <= 5


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_exhaust_postgres_connections(lab, tmp_path):
    runs = passed(*chaos_quick("exhaust-postgres-connections", tmp_path), tmp_path)
    taken = runs["exhaust-postgres-connections"]["output"]
    assert taken["taken"] > 0 and taken["holder_pid"]
    assert taken["in_use_before"] + taken["taken"] >= taken["max_connections"] - taken["reserved"]
    assert runs["new-connections-are-refused"]["output"]["refused"] is True
    assert runs["orders-are-still-accepted"]["output"]["id"] is not None
    assert runs["release-postgres-connections"]["output"]["changed"] is True
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_postgres_read_only(lab, tmp_path):
    runs = passed(*chaos_quick("postgres-read-only", tmp_path), tmp_path)
    made = runs["make-postgres-read-only"]["output"]
    assert made["read_only"] is True and made["terminated"] > 0
    refused = runs["orders-refused-with-a-reason"]["output"]
    assert refused["status"] == 503 and refused["elapsed_ms"] <= 2000
    assert runs["readyz-says-the-database-is-read-only"]["output"]["status"] == 503
    assert runs["dashboard-serves-the-cache"]["output"]["status"] == 200
    [restored] = runs["make-postgres-writable-again"]["output"]["restored"]
    assert restored["database"] == made["database"] and restored["terminated"] > 0
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_pause_redis(lab, tmp_path):
    runs = passed(*chaos_quick("pause-redis", tmp_path), tmp_path)
    assert runs["pause-redis-write"]["output"]["mode"] == "WRITE"
    assert runs["dashboard-served-while-writes-pause"]["output"]["status"] == 200
    assert runs["pause-redis-all"]["output"]["mode"] == "ALL"
    assert runs["dashboard-answers-503-with-a-reason"]["output"]["elapsed_ms"] <= 2000
    assert runs["answers-keep-their-pace-during-the-stall"]["output"]["p99_ms"] <= 2000
    assert runs["the-aggregator-passes-again"]["output"]["dashboard_s"] <= 15


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_redis_out_of_memory(lab, tmp_path):
    runs = passed(*chaos_quick("redis-out-of-memory", tmp_path), tmp_path)
    filled = runs["fill-redis"]["output"]
    assert 0 < filled["maxmemory"] < filled["used_memory"]
    assert filled["maxmemory_policy"] == "noeviction"
    assert runs["the-aggregators-writes-are-refused"]["output"]["refused"] >= 1
    assert runs["readyz-stays-ready"]["output"]["status"] == 200
    assert runs["dashboard-serves-the-last-figures"]["output"]["polls"] > 0
    restored = runs["restore-redis-memory"]["output"]
    assert restored["changed"] and restored["restored"] == filled["previous"]
    assert runs["api-recovered-without-a-restart"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_flapping_redis(lab, tmp_path):
    runs = passed(*chaos_quick("flapping-redis", tmp_path), tmp_path)
    flapped = runs["flap-redis"]["output"]
    assert flapped["cycles"] == 2 and 0 < flapped["down_share"] < 0.5
    assert all(3 <= outage["down_s"] < 6 for outage in flapped["outages"])
    judged = runs["dashboard-failures-within-the-down-share"]["output"]
    assert 0 < judged["failures"] and judged["failure_ratio"] <= judged["bound"]
    assert set(judged["codes"]) <= {"200", "503"}
    assert runs["api-recovered-without-a-restart"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second service kill: CI runs kill-redis
def test_kill_api(lab, tmp_path):
    runs = passed(*chaos_quick("kill-api", tmp_path), tmp_path)
    crash = runs["kill-the-api-under-a-restart-policy"]["output"]
    assert 0 < crash["first_good_answer_s"] <= 10 and crash["cycles"] == 1
    judged = runs["only-refused-or-503-while-the-api-was-down"]["output"]
    assert judged["failure_ratio"] <= judged["bound"]
    assert set(judged["codes"]) <= {"0", "101", "200", "503"}
    reconnected = runs["every-watcher-reconnects"]["output"]
    assert reconnected["reconnected"] >= reconnected["watchers"] > 0
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_cpu_starvation(lab, tmp_path):
    runs = passed(*chaos_quick("cpu-starvation", tmp_path), tmp_path)
    starved = runs["starve-the-apis-cpus"]["output"]
    assert starved["workers"] == len(starved["cpus"]) and starved["nice"] == -10
    judged = runs["p99-within-the-factor-of-the-baseline"]["output"]
    assert judged["p99_ms"] <= judged["p99_bound"]["bound_ms"]
    assert runs["no-answer-but-200-during-the-fault"]["output"]["unexpected"] == {}
    stopped = runs["stop-the-cpu-stressor"]["output"]
    assert stopped["stopped"][0]["outcome"] == "killed" and stopped["left"] == []
    assert runs["no-stressor-left"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_memory_pressure(lab, tmp_path):
    runs = passed(*chaos_quick("memory-pressure", tmp_path), tmp_path)
    taken = runs["take-the-hosts-memory"]["output"]
    assert taken["taken_bytes"] == int(taken["mem_available_bytes"] * 0.25)
    grown = runs["the-apis-memory-stays-bounded"]["output"]
    assert grown["high_water_growth_bytes"] <= 8 * 2**20
    judged = runs["p99-within-the-factor-of-the-baseline"]["output"]
    assert judged["p99_ms"] <= judged["p99_bound"]["bound_ms"]
    assert runs["no-answer-but-200-during-the-fault"]["output"]["unexpected"] == {}
    assert runs["stop-the-memory-stressor"]["output"]["left"] == []
    assert runs["no-stressor-left"]["status"] == "succeeded"


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
@pytest.mark.parametrize(
    ("name", "needs"),
    [
        ("reset-redis-connections", "/api/dashboard"),
        ("reset-postgres-connections", "/api/v1/order"),
    ],
)
def test_connection_resets_fail_only_the_affected_requests(lab, tmp_path, name, needs):
    runs = passed(*chaos_quick(name, tmp_path), tmp_path)
    reset = runs[name]["output"]
    assert reset["rounds"] == 10 and reset["toxic"]["type"] == "reset_peer"
    judged = runs["failures-limited-to-the-affected-requests"]["output"]
    assert judged["name"] == needs and judged["count"] > 0
    assert judged["failure_ratio"] <= judged["bound"]["max_failure_ratio"] == 0.5
    assert set(judged["codes"]) <= {"200", "503"}
    assert runs["requests-that-do-not-need-it-succeed"]["output"]["failures"] == 0
    assert 0 < runs["time-to-recover"]["output"] <= 5


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.extended  # a second grey failure: CI runs freeze-redis
def test_bandwidth_postgres(lab, tmp_path):
    runs = passed(*chaos_quick("bandwidth-postgres", tmp_path), tmp_path)
    limited = runs["limit-postgres-bandwidth"]["output"]
    assert limited["type"] == "bandwidth" and limited["attributes"] == {"rate": 1}
    orders = runs["orders-keep-their-bounds-or-fail-fast"]["output"]
    assert orders["count"] > 0 and orders["judged_as"] == "kept its bounds"
    assert 0 < runs["time-to-recover"]["output"] <= 5
    lost = runs["no-acknowledged-order-lost"]["output"]
    assert lost["acknowledged"] > 0 and not lost["missing"]
