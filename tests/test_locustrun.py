"""gameday.locustrun and actions.load/probes.load: real Locust against the real café.

Each test uses its own target file whose state directory (ledger, current
run) is a temporary directory, so it never touches the lab's ledger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from chaoslib.exceptions import ActivityFailed

from actions import load as load_actions
from gameday import ledger, locustrun
from gameday.target import load_target
from probes import http, orders
from probes import load as load_probes

LAB_TARGET = Path(os.environ.get("COFFEE_CHAOS_TARGET", "/etc/coffee-chaos/target.json"))


@pytest.fixture
def configuration(tmp_path: Path) -> dict:
    # Without a provisioned lab, the tests that need none still get a target.
    raw = json.loads(LAB_TARGET.read_text()) if LAB_TARGET.exists() else {
        "api_url": "http://127.0.0.1:8005", "services": {},
    }
    raw["state_dir"] = str(tmp_path / "state")
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps(raw))
    return {"target_file": str(target_file), "run_dir": str(tmp_path / "run")}


@pytest.fixture
def cafe() -> None:
    """Wait (bounded) for the café to be ready: other lab tests stop and restart it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if http.readyz_status(raise_on_unavailable=False) == 200:
            return
        time.sleep(0.5)
    pytest.fail("the café at 127.0.0.1:8005 is not ready after 60 s: `supervisorctl status`")


@pytest.fixture
def target(configuration):
    target = load_target(configuration)
    yield target
    for entry in ledger.ledger_for(target).entries():  # never leave Locust behind
        locustrun.revert(entry, target)


def _locusts_of(run_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if ("locust" in cmdline and str(run_dir) in cmdline
                and process.info["status"] != psutil.STATUS_ZOMBIE):
            found.append(process)
    return found


def _stored_ids(ids: list[int]) -> set[int]:
    dsn = json.loads(Path("/etc/coffee-chaos/secrets.json").read_text())["postgres_dsn"]
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute("SELECT id FROM coffee_rt.orders WHERE id = ANY(%s)", (ids,))
        return {row[0] for row in rows}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": -5}, "users must be a whole number from 1"),
        ({"users": 0}, "users must be a whole number from 1"),
        ({"run_time_s": 0}, "run time must be a whole number of seconds"),
        ({"spawn_rate": 0}, "spawn_rate must be a positive number"),
        ({"user_classes": {"Barista": 1}}, "unknown user class 'Barista'"),
        ({"user_classes": {}}, "no user class chosen"),
        ({"user_classes": {"CoffeeConsumer": 0}}, "must be a whole number >= 1"),
        ({"host": "http://10.20.30.40:8005"}, "allow_remote_target: true"),
        ({"host": "ftp://127.0.0.1"}, "is not an http(s) URL"),
    ],
)
def test_bad_inputs_are_refused_before_anything_starts(tmp_path, target, kwargs, message):
    arguments = {
        "run_dir": tmp_path / "run", "host": target.api_url, "users": 5, "spawn_rate": 5,
        "run_time_s": 8, "user_classes": {"CoffeeConsumer": 1}, "target": target, **kwargs,
    }
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(**arguments)
    assert message in str(exc.value)
    assert not (tmp_path / "run").exists()
    assert ledger.ledger_for(target).entries() == []
    with pytest.raises(locustrun.NotRunning):
        locustrun.current(target)


def test_user_class_spec_is_parsed_and_checked():
    assert locustrun.parse_user_classes("CoffeeConsumer=10, DowntownRegular=3") == {
        "CoffeeConsumer": 10, "DowntownRegular": 3,
    }
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.parse_user_classes("CoffeeConsumer=ten")
    assert "'ten' of 'CoffeeConsumer' is not an integer" in str(exc.value)


def test_run_dir_comes_from_the_environment_then_the_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv(locustrun.RUN_DIR_ENV, str(tmp_path / "from-env"))
    assert locustrun.resolve_run_dir({"run_dir": "x"}) == tmp_path / "from-env"
    monkeypatch.delenv(locustrun.RUN_DIR_ENV)
    assert locustrun.resolve_run_dir({"run_dir": str(tmp_path / "cfg")}) == tmp_path / "cfg"
    assert locustrun.resolve_run_dir(None).parent == Path("runs").resolve()


def test_kill_switch_refuses_load(tmp_path, target):
    target.state_dir.mkdir(parents=True)
    target.kill_switch.touch()
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(tmp_path / "run", target.api_url, 5, 5, 8, {"CoffeeConsumer": 1}, target)
    assert "kill switch" in str(exc.value)


@pytest.mark.lab
def test_start_and_stop_a_short_run_against_the_cafe(cafe, tmp_path, target, configuration):
    run_dir = tmp_path / "run"
    run = locustrun.start(run_dir, target.api_url, 5, 5, 8, {"RushHourCustomer": 1}, target)
    assert psutil.Process(run["pid"]).is_running()
    assert [e["revert"]["pid"] for e in ledger.ledger_for(target).entries()] == [run["pid"]]
    assert locustrun.current(target)["pid"] == run["pid"]
    live = Path(run["live_file"])
    size = live.stat().st_size
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(tmp_path / "other", target.api_url, 1, 1, 5, {"CoffeeConsumer": 1}, target)
    assert "already going" in str(exc.value)

    time.sleep(4)
    assert live.stat().st_size > size  # one line per second
    stats = load_probes.load_stats(window_s=3, configuration=configuration)
    assert stats["count"] > 0 and stats["age_s"] < 3
    assert load_probes.order_success_count(window_s=3, configuration=configuration) > 0
    assert load_probes.p99_ms(3, "/api/v1/order", configuration=configuration) > 0
    assert 0 <= load_probes.failure_ratio(3, configuration=configuration) <= 1
    assert isinstance(load_probes.unexpected_codes(3, configuration=configuration), dict)

    result = locustrun.stop(target)
    assert result["stopped"] == "gracefully"
    for name in ("stats_csv", "history_csv", "html", "json", "live", "acked", "log"):
        assert Path(result["files"][name]).stat().st_size > 0, name
    lines = [json.loads(line) for line in live.read_text().splitlines()]
    live_count = sum(s["count"] for b in lines for s in b["by_name"].values())
    assert result["totals"]["requests"] == live_count > 0  # nothing missed at the end
    assert _locusts_of(run_dir) == []
    assert ledger.ledger_for(target).entries() == []
    with pytest.raises(locustrun.NotRunning):
        locustrun.current(target)
    with pytest.raises(locustrun.NotRunning):
        locustrun.stop(target)

    acked = [json.loads(line)["id"] for line in Path(run["acked_file"]).read_text().splitlines()]
    assert acked and result["totals"]["acknowledged_orders"] == len(acked)
    assert _stored_ids(acked) == set(acked)
    facts = orders.no_lost_orders(configuration=configuration)  # the last run, by default
    assert facts["acknowledged"] == len(set(acked)) and facts["missing_count"] == 0


@pytest.mark.lab
def test_recover_stops_a_run_whose_starter_was_killed(cafe, tmp_path, target, configuration):
    run_dir = tmp_path / "run"
    starter = textwrap.dedent(f"""
        import os, signal
        from gameday import locustrun
        from gameday.target import load_target
        target = load_target({{"target_file": {configuration["target_file"]!r}}})
        run = locustrun.start({str(run_dir)!r}, target.api_url, 2, 2, 120,
                              {{"CappuccinoLover": 1}}, target)
        print(run["pid"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid = int(done.stdout.split()[0])
    assert [p.pid for p in _locusts_of(run_dir)] == [pid]  # orphaned, still loading

    reverted = ledger.recover(target)
    assert [r["kind"] for r in reverted] == ["locust"]
    assert reverted[0]["result"]["pid"] == pid
    assert _locusts_of(run_dir) == []
    assert ledger.ledger_for(target).entries() == []
    assert locustrun.latest(target)["pid"] == pid  # kept for the lost-orders check
    assert (run_dir / "locust" / "report.html").exists()  # stopped gracefully
    # idempotent: reverting the same entry again does nothing
    assert locustrun.revert({"revert": {"pid": pid}}, target)["stopped"] == "already gone"


@pytest.mark.lab
def test_actions_start_and_stop_load(cafe, tmp_path, target, configuration):
    run = load_actions.start_load(users=2, spawn_rate=2, duration_s=5,
                                  user_classes="DashboardViewer=1", configuration=configuration)
    assert run["run_dir"] == str(tmp_path / "run")
    assert run["user_classes"] == {"DashboardViewer": 1}
    time.sleep(3)
    assert load_probes.load_stats(5, "/api/dashboard", configuration=configuration)["count"] > 0
    result = load_actions.stop_load(configuration=configuration)
    assert Path(result["files"]["html"]).exists()
    with pytest.raises(ActivityFailed) as exc:
        load_actions.stop_load(configuration=configuration)
    assert "no load run is recorded" in str(exc.value)


def test_actions_and_probes_name_the_problem(configuration):
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(users=-1, configuration=configuration)
    assert "users must be a whole number" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(user_classes="Espresso=1", configuration=configuration)
    assert "unknown user class 'Espresso'" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        load_probes.p99_ms(configuration=configuration)
    assert "start one with actions.load.start_load" in str(exc.value)


@pytest.mark.lab
def test_an_orphan_killed_with_sigkill_is_reaped_too(tmp_path, target):
    run = locustrun.start(tmp_path / "run", target.api_url, 1, 1, 60, {"CappuccinoLover": 1},
                          target)
    os.killpg(run["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "SIGKILL did not kill Locust"
        time.sleep(0.05)
    entry = ledger.ledger_for(target).entries()[0]
    assert locustrun.revert(entry, target)["stopped"] == "already gone"
    assert _locusts_of(tmp_path / "run") == []
