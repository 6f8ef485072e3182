"""Safety: a fault the toolkit injects is reverted on every exit path.

Each test runs the real `chaos` CLI against the real lab (supervisor, Redis,
the café) with a small experiment that kills Redis, and the `lab` fixture
checks afterwards that every service is up, the ledger is empty, and no
toxic, qdisc or Locust process is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from gameday import ledger
from tests.chaosrun import (
    KILL_SWITCH_GUARD,
    READY,
    act,
    activity_names,
    experiment,
    hold,
    journal,
    kill,
    launch,
    py,
    run,
    signal_and_wait,
    start,
    wait_for,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

HOLD = hold(30)
NODE_EXPORTER = "http://127.0.0.1:9100/metrics"  # the lab's (roles/prometheus)
PHASE = "coffee_chaos_experiment_phase"


def _redis_fault_recorded(target) -> bool:
    return any(e["subject"] == "redis" for e in ledger.ledger_for(target).entries())


def test_completed_run_reverts_and_exits_zero(lab, tmp_path):
    code, body = run(experiment([kill("redis", 1), start("redis")], [start("redis")]), tmp_path)
    assert code == 0, (tmp_path / "chaos.out").read_text()
    assert body["status"] == "completed" and not body["deviated"]
    assert activity_names(body, "rollbacks") == ["start-redis"]


def test_deviated_run_plays_rollbacks_and_exits_non_zero(lab, tmp_path):
    # The method kills Redis and leaves it down: the hypothesis after deviates.
    code, body = run(experiment([kill("redis", 1)], [start("redis")]), tmp_path)
    assert code != 0
    assert body["deviated"] is True
    assert activity_names(body, "rollbacks") == ["start-redis"]
    assert body["rollbacks"][0]["status"] == "succeeded"


def test_failed_precheck_exits_non_zero_and_touches_nothing(lab, tmp_path):
    never = {**READY, "name": "readyz-is-418", "tolerance": 418}
    code, body = run(experiment([kill("redis")], [start("redis")], probes=[never]), tmp_path)
    assert code != 0
    assert body["status"] == "failed"
    assert "kill-redis" not in activity_names(body)
    assert activity_names(body, "rollbacks") == ["start-redis"]


def test_fail_fast_plays_rollbacks_despite_the_callers_strategy(lab, tmp_path):
    body = experiment([kill("redis", 1), HOLD], [start("redis")])
    code, result = run(
        body,
        tmp_path,
        "--hypothesis-strategy",
        "continuously",
        "--hypothesis-frequency",
        "1",
        "--fail-fast",
        "--rollback-strategy",
        "never",
    )
    assert code != 0
    assert activity_names(result, "rollbacks") == ["start-redis"]


def test_safeguard_trip_stops_the_run_and_reverts(lab, tmp_path):
    process = launch(
        experiment([kill("redis"), HOLD], [start("redis")], safeguards=[KILL_SWITCH_GUARD]),
        tmp_path,
    )
    try:
        wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
        lab.kill_switch.write_text("test\n")
        code = process.wait(timeout=60)
    finally:
        lab.kill_switch.unlink(missing_ok=True)
    body = journal(tmp_path)
    assert code != 0
    assert body["status"] == "interrupted"
    assert "start-redis" in activity_names(body, "rollbacks")
    assert body["coffee_chaos"]["interrupted_by"]["safeguard"] == "kill-switch-is-off"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_fault_reverts_and_stops_the_load(lab, tmp_path, signum):
    load = act(
        "start-load",
        "actions.load",
        "start_load",
        users=2,
        spawn_rate=2,
        duration_s=60,
        user_classes="CoffeeConsumer=1",
    )
    body = experiment([load, kill("redis"), HOLD], [start("redis")])
    process = launch(body, tmp_path)
    wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
    code = signal_and_wait(process, signum)
    assert code != 0
    result = journal(tmp_path)
    assert result["status"] == "interrupted"
    assert "start-redis" in activity_names(result, "rollbacks")
    assert result["coffee_chaos"]["load"]["files"]["html"].endswith("report.html")


def node_series(name: str) -> list[tuple[dict, float]]:
    """The samples of ``name`` node_exporter serves now (the fault series: its textfile
    collector reads what the ledger wrote, with no process of the run alive)."""
    text = requests.get(NODE_EXPORTER, timeout=10).text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_sigkilled_runner_is_recovered_from_the_ledger(lab, tmp_path):
    process = launch(experiment([kill("redis"), HOLD], [start("redis")]), tmp_path)
    wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
    wait_for(lambda: node_series("coffee_chaos_fault_active"), what="the fault series")
    process.kill()
    process.wait(timeout=10)
    [(fault, _)] = node_series("coffee_chaos_fault_active")
    assert fault == {
        "experiment": "experiment",
        "kind": "service",
        "target": "redis",
        "name": "kill-redis",
    }, "the dead run's fault is still a series"
    phases = {labels["phase"]: value for labels, value in node_series(PHASE)}
    assert phases["fault"] == 1 and sum(phases.values()) == 1
    gameday = [str(Path(sys.executable).parent / "gameday")]
    first = subprocess.run(gameday + ["recover"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "reverted service redis" in first.stdout
    assert node_series("coffee_chaos_fault_active") == [], "recover rewrote the series"
    assert node_series(PHASE) == [], "no run survives a recover"
    second = subprocess.run(gameday + ["recover"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "Nothing to recover" in second.stdout


def test_kill_switch_refuses_new_runs(lab, tmp_path):
    lab.kill_switch.write_text("test\n")
    try:
        code, body = run(experiment([kill("redis")], [start("redis")]), tmp_path)
    finally:
        lab.kill_switch.unlink(missing_ok=True)
    assert code != 0
    assert "kill switch" in body["coffee_chaos"]["refused"]
    assert "kill-redis" not in activity_names(body)
    assert not body.get("rollbacks")


def test_misspelt_service_is_an_error_not_a_no_op(lab, tmp_path):
    code, body = run(experiment([kill("reddis")], [start("redis")]), tmp_path)
    assert code != 0
    assert body["status"] == "failed"
    reason = body["coffee_chaos"]["failed_actions"][0]["reason"]
    assert "reddis" in reason and "redis" in reason.replace("reddis", "")


def test_no_secret_in_journal_or_logs(lab, tmp_path):
    secrets = json.loads(lab.secrets_file.read_text())
    password = secrets["postgres_dsn"].split(":")[2].split("@")[0]
    order = {
        "type": "probe",
        "name": "no-lost-orders",
        "provider": py("probes.orders", "no_lost_orders"),
    }
    load = act(
        "start-load",
        "actions.load",
        "start_load",
        pause_after=3,
        users=2,
        spawn_rate=2,
        duration_s=30,
        user_classes="CoffeeConsumer=1",
    )
    stop = act("stop-load", "actions.load", "stop_load")
    run(experiment([load, order, stop], [stop]), tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), f"password found in {path}"
