"""gameday.locustrun and actions.load/probes.load: real Locust against the real café.

Each test uses its own target file whose state directory (ledger, current
run) is a temporary directory, so it never touches the lab's ledger.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import free_port, write_target

from actions import load as load_actions
from gameday import ledger, loadplan, locustprocess, locustrun, services
from gameday.target import load_target
from probes import load as load_probes
from probes import orders
from workloads import env


@pytest.fixture
def configuration(tmp_path: Path) -> dict:
    """The lab's target (a minimal one without a lab) with its state under tmp_path."""
    return {**write_target(tmp_path), "run_dir": str(tmp_path / "run")}


@pytest.fixture
def target(configuration):
    target = load_target(configuration)
    yield target
    ledger.recover(target)  # never leave Locust behind


def _locusts_of(run_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if (
            "locust" in cmdline
            and str(run_dir) in cmdline
            and process.info["status"] != psutil.STATUS_ZOMBIE
        ):
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
        "run_dir": tmp_path / "run",
        "host": target.api_url,
        "users": 5,
        "spawn_rate": 5,
        "run_time_s": 8,
        "user_classes": {"CoffeeConsumer": 1},
        "target": target,
        **kwargs,
    }
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(**arguments)
    assert message in str(exc.value)
    assert not (tmp_path / "run").exists()
    assert ledger.ledger_for(target).entries() == []
    with pytest.raises(locustrun.NotRunning):
        locustrun.current(target)


def test_user_class_spec_is_parsed_and_checked():
    assert loadplan.parse_user_classes("CoffeeConsumer=10, DowntownRegular=3") == {
        "CoffeeConsumer": 10,
        "DowntownRegular": 3,
    }
    with pytest.raises(locustrun.LoadError) as exc:
        loadplan.parse_user_classes("CoffeeConsumer=ten")
    assert "'ten' of 'CoffeeConsumer' is not an integer" in str(exc.value)


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
    placed = load_probes.load_stats(3, "/api/v1/order", configuration=configuration)
    assert placed["codes"].get("200", 0) > 0 and placed["p99_ms"] > 0
    assert placed["started"] > 0 and 0 <= placed["failure_ratio"] <= 1
    answers = load_probes.unexpected_answers(
        3, raise_on_unexpected=False, configuration=configuration
    )
    assert answers["unexpected"] == {}

    result = locustrun.stop(target)
    assert result["stopped"] == "gracefully"
    for name in ("stats_csv", "history_csv", "html", "json", "live", "acked", "log"):
        assert Path(result["files"][name]).stat().st_size > 0, name
    lines = [json.loads(line) for line in live.read_text().splitlines()]
    assert lines[-1] == {"event": "quit", "exit_code": 0, "stop_reason": None}
    lines = [line for line in lines if "t" in line]
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
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid = int(done.stdout.split()[0])
    assert [p.pid for p in _locusts_of(run_dir)] == [pid]  # orphaned, still loading
    [recorded] = ledger.ledger_for(target).entries()
    assert recorded["revert"]["pid"] == pid and recorded["revert"]["start_ticks"] > 0

    reverted = ledger.recover(target)
    assert [r["kind"] for r in reverted] == ["locust"]
    assert reverted[0]["result"]["pid"] == pid
    assert _locusts_of(run_dir) == []
    assert ledger.ledger_for(target).entries() == []
    assert locustrun.latest(target)["pid"] == pid  # kept for the lost-orders check
    assert (run_dir / "locust" / "report.html").exists()  # stopped gracefully
    # idempotent: reverting the same entry again does nothing
    assert locustprocess.revert(recorded, target)["stopped"] == "already gone"


@pytest.mark.lab
def test_actions_start_and_stop_load(cafe, tmp_path, target, configuration):
    run = load_actions.start_load(
        users=2,
        spawn_rate=2,
        duration_s=5,
        user_classes="DashboardViewer=1",
        configuration=configuration,
    )
    assert run["run_dir"] == str(tmp_path / "run")
    assert run["user_classes"] == {"DashboardViewer": 1}
    time.sleep(3)
    assert load_probes.load_stats(5, "/api/dashboard", configuration=configuration)["count"] > 0
    result = load_actions.stop_load(configuration=configuration)
    assert Path(result["files"]["html"]).exists()
    # idempotent, as a rollback must be
    assert load_actions.stop_load(configuration=configuration) == {
        "stopped": False,
        "note": "no load was running",
    }


def test_actions_and_probes_name_the_problem(configuration):
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(users=-1, configuration=configuration)
    assert "users must be a whole number" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(user_classes="Espresso=1", configuration=configuration)
    assert "unknown user class 'Espresso'" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        load_probes.load_within(3, p99_ms=200, configuration=configuration)
    assert "start one with actions.load.start_load" in str(exc.value)


@pytest.mark.lab
def test_an_orphan_killed_with_sigkill_is_reaped_too(tmp_path, target):
    run = locustrun.start(
        tmp_path / "run", target.api_url, 1, 1, 60, {"CappuccinoLover": 1}, target
    )
    os.killpg(run["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "SIGKILL did not kill Locust"
        time.sleep(0.05)
    entry = ledger.ledger_for(target).entries()[0]
    assert locustprocess.revert(entry, target)["stopped"] == "already gone"
    assert _locusts_of(tmp_path / "run") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": "ramp"}, "unknown load shape 'ramp'"),
        (
            {"shape": "spike", "shape_params": {"base_users": 50, "peak_users": 20}},
            "peak_users (20) must be above base_users (50)",
        ),
        ({"shape": "stairs", "shape_params": {"steps": [10, -1]}}, "steps[1] must be a whole"),
        ({"shape": "soak", "shape_params": {"duration_s": 0}}, "duration_s must be a number"),
        ({"shape": "stairs"}, "the stairs shape lasts 600 s, longer than the run's bound of 8 s"),
        ({"shape_params": {"users": 3}}, "given without a shape"),
        ({"workers": -1}, "workers must be a whole number from 0"),
        ({"abort_failure_ratio": 1.5, "abort_after_s": 5}, "abort_failure_ratio must be a number"),
        ({"abort_failure_ratio": 0.5}, "self-stop needs both abort_failure_ratio"),
        ({"dashboard_interval_s": 0}, "dashboard_interval_s must be a positive number"),
    ],
)
def test_bad_shapes_workers_and_self_stop_are_refused_before_anything_starts(
    tmp_path, target, kwargs, message
):
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(
            tmp_path / "run", target.api_url, 5, 5, 8, {"CoffeeConsumer": 1}, target, **kwargs
        )
    assert message in str(exc.value)
    assert not (tmp_path / "run").exists()
    assert ledger.ledger_for(target).entries() == []


def test_a_taken_metrics_port_is_refused_before_anything_starts(tmp_path, target):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(locustrun.LoadError) as exc:
            locustrun.start(
                tmp_path / "run",
                target.api_url,
                5,
                5,
                8,
                {"CoffeeConsumer": 1},
                target,
                metrics_port=port,
            )
    assert f"127.0.0.1:{port} is taken" in str(exc.value)
    assert not (tmp_path / "run").exists()


def test_start_load_refuses_a_bad_shape_naming_it(configuration):
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(
            duration_s=60,
            shape="spike",
            shape_params={"peak_users": 10},
            configuration=configuration,
        )
    assert "could not start load: spike shape: peak_users (10) must be above" in str(exc.value)


def test_load_stops_itself_when_the_target_refuses_connections(tmp_path, target, configuration):
    """Nothing listens on the port: every request fails, so Locust stops itself (exit 3)."""
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    run = locustrun.start(
        tmp_path / "run",
        dead,
        5,
        5,
        60,
        {"RushHourCustomer": 1},
        target,
        abort_failure_ratio=0.5,
        abort_after_s=3,
        metrics_port=free_port(),
    )
    process = psutil.Process(run["pid"])
    environ = process.environ()
    handed = {name for name in environ if name in env.VARIABLES}
    unused = {env.SHAPE, env.SHAPE_PARAMS, env.TASKS_PER_USER_S, env.EXPECT_WORKERS}
    assert handed == set(env.VARIABLES) - unused  # no shape, no workers
    assert (environ[env.ABORT_FAILURE_RATIO], environ[env.ABORT_AFTER_S]) == ("0.5", "3")
    deadline = time.monotonic() + 20
    while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "Locust did not stop itself"
        time.sleep(0.2)
    assert time.monotonic() - started < 15  # far from the 60 s run time
    outcome = load_probes.load_outcome(configuration=configuration)
    assert outcome["finished"] and outcome["exit_code"] == locustrun.SELF_STOP_EXIT_CODE
    assert "failure ratio stayed over 0.5 for 3 s" in outcome["stop_reason"]
    assert "'0':" in outcome["stop_reason"]  # no answer at all: refused
    log = (tmp_path / "run" / "locust" / "locust.log").read_text()
    assert "self-stop: the failure ratio stayed over 0.5" in log
    assert "Shutting down (exit code 3)" in log

    result = locustrun.stop(target)
    assert result["stopped"] == "already gone"
    summary = json.loads(Path(result["files"]["summary"]).read_text())
    assert summary["exit_code"] == 3 and "self-stop" in summary["stop_reason"]
    assert summary["totals"]["failures"] == summary["totals"]["requests"] > 0
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_a_run_with_two_local_workers(cafe, tmp_path, target):
    run_dir = tmp_path / "run"
    run = locustrun.start(
        run_dir,
        target.api_url,
        6,
        6,
        12,
        {"RushHourCustomer": 1},
        target,
        workers=2,
        metrics_port=free_port(),
    )
    master = psutil.Process(run["pid"])
    workers = master.children()
    assert len(workers) == 2
    assert {os.getpgid(p.pid) for p in [master, *workers]} == {run["pid"]}  # one group
    time.sleep(5)
    log = (run_dir / "locust" / "locust.log").read_text()
    assert "2 workers connected" in log and "All users spawned" in log
    result = locustrun.stop(target)
    assert result["stopped"] == "gracefully" and result["exit_code"] == 0
    assert _locusts_of(run_dir) == []
    lines = [json.loads(line) for line in Path(run["live_file"]).read_text().splitlines()]
    seconds = [line for line in lines if "t" in line]
    live_count = sum(s["count"] for b in seconds for s in b["by_name"].values())
    assert result["totals"]["requests"] == live_count > 0  # the workers' shares all arrived
    assert [line["t"] for line in seconds] == sorted({line["t"] for line in seconds})
    acked = [json.loads(line)["id"] for line in Path(run["acked_file"]).read_text().splitlines()]
    assert len(acked) == result["totals"]["acknowledged_orders"] > 0
    assert _stored_ids(acked) == set(acked)


@pytest.mark.lab
def test_a_distributed_run_is_recovered_whole_after_its_starter_dies(
    cafe, tmp_path, target, configuration
):
    run_dir = tmp_path / "run"
    starter = textwrap.dedent(f"""
        import os, signal
        from gameday import locustrun
        from gameday.target import load_target
        target = load_target({{"target_file": {configuration["target_file"]!r}}})
        run = locustrun.start({str(run_dir)!r}, target.api_url, 2, 2, 120,
                              {{"CappuccinoLover": 1}}, target, workers=2,
                              metrics_port={free_port()})
        print(run["pid"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert len(_locusts_of(run_dir)) == 3  # the master and its two workers, orphaned
    reverted = ledger.recover(target)
    assert [r["kind"] for r in reverted] == ["locust"]
    assert _locusts_of(run_dir) == []


# The runner dies right after Locust starts, before anything else (the test hook wraps
# subprocess.Popen): the load must still be known to the ledger.
KILLED_AFTER_SPAWN = """
import os, signal, subprocess, sys
from gameday import locustrun
from gameday.target import load_target


class Popen(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)


subprocess.Popen = Popen
target = load_target({"target_file": sys.argv[1]})
locustrun.start(sys.argv[2], target.api_url, 2, 2, 120, {"CappuccinoLover": 1}, target)
"""


@pytest.mark.lab
def test_a_load_whose_starter_died_right_after_spawning_it_is_recovered(
    cafe, tmp_path, target, configuration
):
    run_dir = tmp_path / "run"
    try:
        done = subprocess.run(
            [sys.executable, "-c", KILLED_AFTER_SPAWN, configuration["target_file"], str(run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
        deadline = time.monotonic() + 10
        while not _locusts_of(run_dir):
            assert time.monotonic() < deadline, "Locust did not start"
            time.sleep(0.1)
        assert [e["kind"] for e in ledger.ledger_for(target).entries()] == ["locust"]
        ledger.recover(target)
        assert _locusts_of(run_dir) == []
        assert ledger.ledger_for(target).entries() == []
    finally:
        for process in _locusts_of(run_dir):
            process.kill()


@pytest.mark.lab
def test_a_locust_entry_whose_pid_is_now_another_program_leaves_that_program_alone(
    lab, tmp_path, target
):
    """After a reboot or a pid wrap the recorded pid may be PostgreSQL's: here, Redis's."""
    redis = psutil.Process(services.status("redis", lab)["pid"])
    ledger.ledger_for(target).record(
        "locust",
        lab.api_url,
        {
            "mark": "0" * 32,
            "pid": redis.pid,
            "start_ticks": 1,
            "boot_id": "a boot before this one",
            "run_dir": str(tmp_path / "run"),
        },
        note="a Locust run recorded before the host rebooted",
    )
    ledger.recover(target)
    assert redis.is_running() and redis.status() != psutil.STATUS_ZOMBIE
    assert services.status("redis", lab)["pid"] == redis.pid
    assert ledger.ledger_for(target).entries() == []


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def remote_configuration(tmp_path, configuration) -> dict:
    """The test's target plus a load section: one remote worker, master on a free port."""
    path = Path(configuration["target_file"])
    raw = json.loads(path.read_text())
    raw["load"] = {
        "master_bind_host": "127.0.0.1",
        "master_port": free_port(),
        "remote_workers": 1,
    }
    path.write_text(json.dumps(raw))
    return configuration


@pytest.fixture
def remote_worker(tmp_path, remote_configuration):
    """Start a "remote" worker as playbooks/roles/locust's supervisor program runs it.

    No second machine exists here: this process, on loopback, stands in for the
    `locust-worker` program of a host in group locust_workers. It gets none of the
    run's environment (user classes, waits): those must come from the master.
    """
    started: list[subprocess.Popen] = []
    port = load_target(remote_configuration).load.master_port

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 - closed below
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFEE_")}
        worker = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustrun.LOCUSTFILE), "--worker"]
            + ["--master-host", "127.0.0.1", "--master-port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
        log.close()
        started.append(worker)
        return worker

    yield start
    for worker in started:  # never leave a worker behind, whatever the test did
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


@pytest.mark.lab
@pytest.mark.parametrize("workers", [0, 1])
def test_the_master_waits_for_and_uses_a_remote_worker(
    cafe, tmp_path, target, remote_configuration, remote_worker, workers
):
    target = load_target(remote_configuration)
    worker = remote_worker()
    run_dir = tmp_path / "run"
    run = locustrun.start(
        run_dir,
        target.api_url,
        4,
        4,
        10,
        {"DashboardViewer": 1},  # not a default class: the worker gets it from the master
        target,
        workers=workers,
        metrics_port=free_port(),
    )
    assert run["workers"] == workers and run["remote_workers"] == 1
    time.sleep(3)
    result = locustrun.stop(target)
    assert result["stopped"] == "gracefully" and result["exit_code"] == 0
    log = (run_dir / "locust" / "locust.log").read_text()
    assert f"reported as ready. {workers + 1} workers connected" in log
    assert 'All users spawned: {"DashboardViewer": 4}' in log
    lines = [json.loads(line) for line in Path(run["live_file"]).read_text().splitlines()]
    served = sum(
        s["codes"].get("200", 0) for line in lines if "t" in line for s in line["by_name"].values()
    )
    assert served > 0 and result["totals"]["requests"] >= served
    assert worker.wait(timeout=10) is not None  # the master's quit ended the remote worker
    assert "Got quit message from master" in (tmp_path / "worker-0.log").read_text()
    assert _locusts_of(run_dir) == []
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_a_remote_worker_stops_its_load_15_s_after_its_master_is_killed(
    cafe, tmp_path, remote_configuration, remote_worker
):
    """Nothing on this machine can stop a remote worker: it must notice the silence itself."""
    target = load_target(remote_configuration)
    worker = remote_worker()
    run = locustrun.start(
        tmp_path / "run",
        target.api_url,
        2,
        2,
        120,
        {"DashboardViewer": 1},
        target,
        metrics_port=free_port(),
    )
    os.killpg(run["pid"], signal.SIGKILL)
    worker.wait(timeout=45)  # Locust's own 60 s would time out here
    assert "Didn't get heartbeat from master in over 15s" in (tmp_path / "worker-0.log").read_text()
    [reverted] = ledger.recover(target)
    assert reverted["kind"] == "locust" and reverted["result"]["stopped"] == "already gone"


@pytest.mark.lab
@pytest.mark.parametrize("workers", [0, 1])
def test_a_missing_remote_worker_fails_the_start_and_leaves_nothing(
    cafe, tmp_path, target, remote_configuration, monkeypatch, workers
):
    monkeypatch.setattr(locustrun, "WORKERS_MAX_WAIT_S", 3)
    target = load_target(remote_configuration)
    run_dir = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(
            run_dir,
            target.api_url,
            2,
            2,
            10,
            {"CoffeeConsumer": 1},
            target,
            workers=workers,
            metrics_port=free_port(),
        )
    assert time.monotonic() - started < 3 + 10  # Locust's startup plus the max wait
    message = str(exc.value)
    assert (
        f"expected {workers + 1} worker(s) ({workers} local, 1 remote) but only {workers} joined"
    ) in message
    assert "`locust-worker` program runs on the hosts of inventory group locust_workers" in message
    assert f"127.0.0.1:{target.load.master_port}" in message
    assert ledger.ledger_for(target).entries() == []
    with pytest.raises(locustrun.NotRunning):
        locustrun.current(target)
    assert _locusts_of(run_dir) == []


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10"])
def test_remote_workers_on_other_machines_refuse_a_loopback_target(tmp_path, configuration, bind):
    path = Path(configuration["target_file"])
    raw = json.loads(path.read_text())
    raw["load"] = {"master_bind_host": bind, "master_port": 5557, "remote_workers": 2}
    path.write_text(json.dumps(raw))
    target = load_target(configuration)
    with pytest.raises(locustrun.LoadError) as exc:
        locustrun.start(tmp_path / "run", target.api_url, 5, 5, 8, {"CoffeeConsumer": 1}, target)
    message = str(exc.value)
    assert f"refusing 2 remote worker(s): the master listens on {bind}" in message
    assert "would load its own 127.0.0.1" in message and "allow_remote_target" in message
    assert not (tmp_path / "run").exists()
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_load_workers_from_the_configuration_reaches_the_run(cafe, tmp_path, target, configuration):
    run = load_actions.start_load(
        users=2,
        spawn_rate=2,
        duration_s=8,
        user_classes="RushHourCustomer=1",
        metrics_port=free_port(),
        configuration={**configuration, "load_workers": 1},
    )
    assert run["workers"] == 1
    assert len(psutil.Process(run["pid"]).children()) == 1
    result = load_actions.stop_load(configuration=configuration)
    log = (tmp_path / "run" / "locust" / "locust.log").read_text()
    assert "reported as ready. 1 workers connected" in log
    assert result["totals"]["requests"] > 0


def test_a_bad_load_workers_is_refused_naming_the_key(configuration):
    with pytest.raises(ActivityFailed) as exc:
        load_actions.start_load(configuration={**configuration, "load_workers": "two"})
    assert "configuration load_workers must be a whole number" in str(exc.value)
    assert "--var load_workers:int=2" in str(exc.value)
