"""Freezing a service (SIGSTOP, SIGCONT) against the real supervisor lab: what is stopped is
recorded first, the thaw and `recover` continue it, and a SIGKILLed runner leaves nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis
from system_recover import recover_with_system_python
from target_files import write_target

from gameday import freeze, ledger, procs, services
from gameday.errors import ServiceError
from gameday.target import TargetError, load_target


@pytest.fixture
def target(tmp_path: Path):
    """A lab target with its ledger under tmp_path; nothing stays frozen after the test."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
    for name in ("redis", "postgresql"):
        pid = services.status(name, lab)["pid"]
        stuck = freeze.frozen([pid])
        for stopped in stuck:
            psutil.Process(stopped).send_signal(signal.SIGCONT)
        assert not stuck, f"{name} left frozen: {stuck}"


def pings(timeout: float = 0.5) -> bool:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.mark.lab
def test_freeze_stops_every_process_and_records_them_first(target) -> None:
    pid = services.status("postgresql", target)["pid"]
    tree = {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    frozen = freeze.freeze(target, "postgresql")
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "freeze" and entry["id"] == frozen["ledger_id"]
    recorded = {p["pid"] for p in entry["revert"]["processes"]}
    assert tree <= recorded and tree <= set(frozen["stopped_pids"])
    assert set(freeze.frozen([pid])) >= tree
    assert services.status("postgresql", target)["state"] == "RUNNING"  # supervisor sees no fault

    thawed = freeze.thaw(target, "postgresql")
    assert thawed["changed"] and set(thawed["continued_pids"]) >= tree
    assert freeze.frozen([pid]) == [] and ledger.ledger_for(target).entries() == []
    assert freeze.thaw(target, "postgresql")["changed"] is False  # a second thaw: nothing


@pytest.mark.lab
def test_a_frozen_redis_accepts_but_does_not_answer_until_thawed(target) -> None:
    freeze.freeze(target, "redis")
    try:
        assert not pings(), "a frozen Redis answered"
    finally:
        freeze.thaw(target, "redis")
    assert pings(timeout=2)


@pytest.mark.lab
def test_a_freeze_left_by_a_sigkilled_runner_is_thawed_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import freeze\n"
        "from gameday.target import load_target\n"
        "freeze.freeze(load_target({'target_file': sys.argv[1]}), 'redis')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    pid = services.status("redis", target)["pid"]
    assert freeze.frozen([pid]) == [pid] and not pings()
    [reverted] = recover_with_system_python(tmp_path / "target.json")
    assert reverted["kind"] == "freeze" and reverted["result"]["continued_pids"] == [pid]
    assert freeze.frozen([pid]) == [] and pings(timeout=2)
    assert ledger.recover(target) == []


@pytest.fixture
def stopped_sleeper():
    """A ``sleep`` of this test's own, stopped (SIGSTOP), killed afterwards."""
    sleeper = subprocess.Popen(["sleep", "30"])
    sleeper.send_signal(signal.SIGSTOP)
    assert _state(sleeper.pid, "T")
    yield sleeper
    sleeper.kill()
    sleeper.wait()


def _state(pid: int, wanted: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if procs.read(pid).state == wanted:
            return True
        time.sleep(0.02)
    return False


def _recover(tmp_path: Path, recorded: dict) -> list[int]:
    lab = load_target(write_target(tmp_path))
    spec = {"action": "sigcont", "root": recorded, "processes": [recorded]}
    ledger.ledger_for(lab).record("freeze", "redis", spec)
    [reverted] = ledger.recover(lab)
    return reverted["result"]["continued_pids"]


def test_a_recorded_pid_reused_by_another_process_is_not_signalled(tmp_path, stopped_sleeper):
    stale = procs.identity(stopped_sleeper.pid)
    stale["start_ticks"] -= 50  # the pid's process of half a second earlier
    assert _recover(tmp_path, stale) == []
    assert freeze.frozen([stopped_sleeper.pid]) == [stopped_sleeper.pid]


def test_an_entry_recorded_with_psutils_create_time_is_still_thawed(tmp_path, stopped_sleeper):
    legacy = {
        "pid": stopped_sleeper.pid,
        "started": psutil.Process(stopped_sleeper.pid).create_time(),
    }
    assert _recover(tmp_path, {**legacy, "started": legacy["started"] - 5}) == []
    assert _recover(tmp_path, legacy) == [stopped_sleeper.pid]
    assert _state(stopped_sleeper.pid, "S") and freeze.frozen([stopped_sleeper.pid]) == []


@pytest.mark.lab
def test_a_service_that_is_not_running_is_refused_without_an_entry(target) -> None:
    services.stop("redis", target)
    try:
        with pytest.raises(ServiceError) as exc:
            freeze.freeze(target, "redis")
    finally:
        services.start("redis", target)
    assert "cannot freeze service 'redis'" in str(exc.value) and "not RUNNING" in str(exc.value)
    assert ledger.ledger_for(target).entries() == []


def test_an_undeclared_service_is_refused_naming_the_declared_ones(tmp_path) -> None:
    lab = load_target(write_target(tmp_path))
    with pytest.raises(TargetError) as exc:
        freeze.freeze(lab, "memcached")
    assert "unknown service 'memcached'" in str(exc.value)
    with pytest.raises(TargetError):
        freeze.thaw(lab, "memcached")
    assert ledger.ledger_for(lab).entries() == []


def test_freezing_is_refused_off_supervisor(tmp_path) -> None:
    lab = load_target(write_target(tmp_path, platform="kubernetes"))
    with pytest.raises(ServiceError) as exc:
        freeze.freeze(lab, "redis")
    assert "needs the supervisor platform" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
