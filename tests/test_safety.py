"""Safety: a fault the toolkit injects is reverted on every exit path.

Each test runs the real `chaos` CLI against the real lab (supervisor, Redis,
the café) with a small experiment that kills Redis, and the `lab` fixture
checks afterwards that every service is up, the ledger is empty, and no
toxic, qdisc or Locust process is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from target_files import write_target

from gameday import ledger, services
from gameday.target import load_target
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
    logged,
    py,
    run,
    signal_and_wait,
    start,
    wait_for,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

HOLD = hold(30)
GAMEDAY = str(Path(sys.executable).parent / "gameday")
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


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT], ids=lambda s: s.name
)
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


def _why_no_series(lab, workdir: Path) -> str:
    """What to look at when the fault series did not come: the file node_exporter reads,
    its scrape error, the run's log."""
    prom = lab.state_dir / "textfile" / "coffee_chaos.prom"
    text = prom.read_text() if prom.exists() else f"{prom} does not exist"
    errors = node_series("node_textfile_scrape_error")
    log = (workdir / "chaos.out").read_text()[-2000:]
    return f"no fault series: {prom}:\n{text}\nscrape errors {errors}\nchaos.out:\n{log}"


def test_sigkilled_runner_is_recovered_from_the_ledger(lab, tmp_path):
    process = launch(experiment([kill("redis"), HOLD], [start("redis")]), tmp_path)
    wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
    try:
        wait_for(lambda: node_series("coffee_chaos_fault_active"), what="the fault series")
    except AssertionError:
        process.kill()
        raise AssertionError(_why_no_series(lab, tmp_path)) from None
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


def test_no_secret_in_any_artefact_of_a_run(lab, tmp_path):
    """The lab's real password, written inline in the experiment's secrets and passed to an
    override, appears in no journal, log, report or load file of a `gameday run`."""
    secrets = json.loads(lab.secrets_file.read_text())
    password = urlsplit(secrets["postgres_dsn"]).password
    assert password and len(password) >= 8
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
    leak = act(
        "override-with-a-password",
        "actions.config",
        "override_service_env",
        service="api",
        env={"POSTGRES_PASSWORD": password},
    )
    stop = act("stop-load", "actions.load", "stop_load")
    body = experiment([load, order, leak, stop], [stop])
    body["secrets"] = {"coffee": {"postgres_dsn": secrets["postgres_dsn"]}}
    path = tmp_path / "secret-inline.json"
    path.write_text(json.dumps(body))
    done = subprocess.run(
        [GAMEDAY, "run", "--runs-dir", str(tmp_path / "runs"), str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    artefacts = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert len(artefacts) > 5, done.stdout + done.stderr
    assert password not in done.stdout + done.stderr
    for artefact in artefacts:
        assert password not in artefact.read_text(errors="replace"), f"password in {artefact}"
    journals = [p for p in artefacts if p.name == "journal.json"]
    assert journals and "***" in journals[0].read_text()


def _own_target(tmp_path) -> dict:
    """A target file of the experiment's own, with a state directory (a ledger) of its own."""
    (tmp_path / "own").mkdir()
    return write_target(tmp_path / "own")


def test_admission_names_an_unreadable_ledger_file(lab, tmp_path):
    configuration = _own_target(tmp_path)
    broken = tmp_path / "own" / "state" / "ledger" / "1-service-torn.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"id": "1-serv')
    body = experiment([hold(1)], [])
    body["configuration"] = configuration
    code, result = run(body, tmp_path)
    assert code != 0
    refusal = result["coffee_chaos"]["refused"]
    assert str(broken) in refusal and "make recover" in refusal


def test_ctrl_c_stops_a_run_that_inherited_sigint_ignored(lab, tmp_path):
    """`chaos run ... &` from a script starts with SIGINT ignored: kill -INT must still work."""
    process = launch(
        experiment([kill("redis"), HOLD], [start("redis")]),
        tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
        code = signal_and_wait(process, signal.SIGINT, timeout=20)
    finally:
        if process.poll() is None:
            signal_and_wait(process, signal.SIGTERM)
    assert code != 0
    result = journal(tmp_path)
    assert result["status"] == "interrupted"
    assert "start-redis" in activity_names(result, "rollbacks")


def _slow_rollbacks(pause_s: float) -> dict:
    pause = {**hold(pause_s), "name": "pause-before-reverting"}
    return experiment([kill("redis"), HOLD], [pause, start("redis")])


def test_signals_during_cleanup_are_noted_and_the_cleanup_finishes(lab, tmp_path):
    process = launch(_slow_rollbacks(6), tmp_path)
    wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
    os.kill(process.pid, signal.SIGTERM)
    wait_for(lambda: logged(tmp_path, "Rollback: pause-before-reverting"), what="the rollbacks")
    os.kill(process.pid, signal.SIGTERM)
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGHUP)
    code = process.wait(timeout=60)
    result = journal(tmp_path)
    assert code != 0 and result["status"] == "interrupted"
    assert activity_names(result, "rollbacks") == ["pause-before-reverting", "start-redis"]
    assert [r["status"] for r in result["rollbacks"]] == ["succeeded", "succeeded"]
    assert result["coffee_chaos"]["signals_during_cleanup"] == ["SIGTERM", "SIGHUP"]


def test_three_ctrl_c_within_2_s_force_exit_naming_what_is_left(lab, tmp_path):
    process = launch(_slow_rollbacks(30), tmp_path)
    try:
        wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
        os.kill(process.pid, signal.SIGINT)
        wait_for(lambda: logged(tmp_path, "Rollback: pause-before-reverting"), what="rollbacks")
        for _ in range(3):
            os.kill(process.pid, signal.SIGINT)
            time.sleep(0.3)
        code = process.wait(timeout=10)
        said = (tmp_path / "chaos.out").read_text()
        assert code != 0
        assert "service redis" in said and "make recover" in said
        assert _redis_fault_recorded(lab)  # left, as it said, for `make recover`
    finally:
        if process.poll() is None:
            signal_and_wait(process, signal.SIGKILL)
        ledger.recover(lab)


def test_recover_refuses_while_a_run_holds_the_lab_unless_forced(lab, tmp_path):
    process = launch(experiment([kill("redis"), HOLD], [start("redis")]), tmp_path)
    try:
        wait_for(lambda: _redis_fault_recorded(lab), what="the fault to be recorded")
        refused = subprocess.run([GAMEDAY, "recover"], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert f"pid {process.pid}" in refused.stdout + refused.stderr
        assert _redis_fault_recorded(lab), "recover reverted a live run's fault"
        forced = subprocess.run(
            [GAMEDAY, "recover", "--force"], capture_output=True, text=True, timeout=120
        )
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert not _redis_fault_recorded(lab)
    finally:
        signal_and_wait(process, signal.SIGTERM)


def _run_with_its_own_target(tmp_path, safeguards=None):
    configuration = _own_target(tmp_path)
    body = experiment([kill("redis"), HOLD], [start("redis")], safeguards=safeguards)
    body["configuration"] = configuration
    process = launch(body, tmp_path)
    own = ledger.ledger_for(load_target(configuration))
    wait_for(lambda: own.entries(), what="the fault in the run's own ledger")
    return process, configuration


def test_recover_reverts_the_ledger_of_a_run_with_its_own_target_file(lab, tmp_path):
    process, configuration = _run_with_its_own_target(tmp_path)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    own = load_target(configuration)
    try:
        done = subprocess.run([GAMEDAY, "recover"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ledger.ledger_for(own).entries() == []
        assert services.status("redis", lab)["running"]
    finally:
        ledger.recover(own)


def test_the_kill_switch_stops_a_run_with_its_own_target_file(lab, tmp_path):
    process, _ = _run_with_its_own_target(tmp_path, safeguards=[KILL_SWITCH_GUARD])
    try:
        subprocess.run([GAMEDAY, "kill-switch", "on"], check=True, timeout=30)
        code = process.wait(timeout=20)
    finally:
        subprocess.run([GAMEDAY, "kill-switch", "off"], check=True, timeout=30)
        if process.poll() is None:
            signal_and_wait(process, signal.SIGTERM)
    result = journal(tmp_path)
    assert code != 0 and result["status"] == "interrupted"
    assert result["coffee_chaos"]["interrupted_by"]["safeguard"] == "kill-switch-is-off"
