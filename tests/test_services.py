"""Service control against the real supervisor lab, and the Kubernetes path with a fake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from target_files import write_target

from gameday import ledger, services
from gameday.errors import LedgerError, ServiceError
from gameday.target import TargetError, load_target


def make_target(tmp_path: Path, **changes):
    """The lab's target, its ledger under tmp_path, with ``changes`` applied."""
    return load_target(write_target(tmp_path, **changes))


@pytest.fixture
def target(tmp_path: Path):
    """A lab target; redis and postgresql are running again after the test, whatever happens."""
    lab = make_target(tmp_path)
    yield lab
    for name in ("redis", "postgresql"):
        services.start(name, lab)


def running(target, name: str) -> bool:
    return services.status(name, target)["running"]


@pytest.mark.lab
def test_status_describes_a_running_program(target) -> None:
    facts = services.status("redis", target)
    assert facts["service"] == "redis" and facts["program"] == "redis"
    assert facts["state"] == "RUNNING" and facts["running"] is True
    assert facts["pid"] > 0 and facts["uptime"] >= 0


@pytest.mark.lab
def test_kill_records_then_recover_restarts_and_empties_the_ledger(target) -> None:
    before = services.status("redis", target)["pid"]
    killed = services.kill("redis", target)
    assert killed["killed_pid"] == before and killed["signal"] == "SIGKILL"
    assert not running(target, "redis")
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "service" and entry["subject"] == "redis"
    assert entry["revert"]["action"] == "start" and entry["id"] == killed["ledger_id"]

    [reverted] = ledger.recover(target)
    assert reverted["subject"] == "redis" and reverted["result"]["changed"] is True
    assert running(target, "redis")
    assert services.status("redis", target)["pid"] != before
    assert ledger.ledger_for(target).entries() == []
    assert ledger.recover(target) == []  # a second recover is a no-op


@pytest.mark.lab
def test_kill_takes_down_the_whole_process_tree(target) -> None:
    pid = services.status("postgresql", target)["pid"]
    workers = psutil.Process(pid).children(recursive=True)
    assert workers  # PostgreSQL's workers, each in a process group of its own
    killed = services.kill("postgresql", target)
    assert killed["process_group"] == pid
    assert {w.pid for w in workers} <= set(killed["killed_pids"])
    assert not [w.pid for w in workers if w.is_running() and w.status() != "zombie"]
    assert services.start("postgresql", target)["running"] is True


@pytest.mark.lab
def test_an_entry_left_by_a_sigkilled_runner_is_reverted_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import services\n"
        "from gameday.target import load_target\n"
        "services.kill('redis', load_target({'target_file': sys.argv[1]}))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert not running(target, "redis")
    [entry] = ledger.ledger_for(target).entries()
    assert entry["subject"] == "redis" and entry["pid"] != os.getpid()
    ledger.recover(target)
    assert running(target, "redis")
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_stop_and_start_are_recorded_and_idempotent(target) -> None:
    stopped = services.stop("redis", target)
    assert stopped["changed"] is True and stopped["state"] == "STOPPED"
    assert len(ledger.ledger_for(target).entries()) == 1
    again = services.stop("redis", target)
    assert again["changed"] is False and "already STOPPED" in again["note"]
    assert len(ledger.ledger_for(target).entries()) == 1

    started = services.start("redis", target)
    assert started["running"] is True and started["resolved"] == [stopped["ledger_id"]]
    second = services.start("redis", target)
    assert second["changed"] is False and second["note"] == "already running"
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_restart_gives_a_new_process_and_leaves_no_fault(target) -> None:
    before = services.status("redis", target)["pid"]
    result = services.restart("redis", target)
    assert result["started"]["running"] is True
    assert services.status("redis", target)["pid"] != before
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_killing_a_service_that_is_not_running_is_refused_without_an_entry(target) -> None:
    services.stop("redis", target)
    with pytest.raises(ServiceError) as exc:
        services.kill("redis", target)
    assert "'redis'" in str(exc.value) and "not RUNNING" in str(exc.value)
    assert len(ledger.ledger_for(target).entries()) == 1  # only the stop


@pytest.mark.lab
def test_recover_reverts_what_it_can_and_keeps_what_it_cannot(target) -> None:
    book = ledger.ledger_for(target)
    services.kill("redis", target)
    toxic = book.record(
        "toxic",
        "postgresql",
        {"proxy": "postgresql", "toxic": "x", "faultproxy_url": "http://127.0.0.1:9"},
    )
    with pytest.raises(LedgerError) as exc:
        ledger.recover(target)
    assert toxic in str(exc.value) and "1 fault(s)" in str(exc.value)
    assert running(target, "redis")
    assert [e["id"] for e in book.entries()] == [toxic]


def test_an_unknown_service_names_itself_and_the_declared_ones(tmp_path) -> None:
    lab = make_target(tmp_path)
    with pytest.raises(TargetError) as exc:
        services.kill("memcached", lab)
    assert "memcached" in str(exc.value)
    assert "aggregator, api, postgresql, redis" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []


@pytest.mark.lab
def test_a_program_supervisor_does_not_know_is_a_clear_error(tmp_path) -> None:
    lab = make_target(tmp_path, services={"ghost": {"program": "ghost"}})
    with pytest.raises(ServiceError) as exc:
        services.kill("ghost", lab)
    assert "no program 'ghost'" in str(exc.value) and "target file" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []


def test_an_unreachable_supervisor_is_a_clear_error(tmp_path) -> None:
    lab = make_target(tmp_path, supervisor_url=f"unix://{tmp_path}/none.sock")
    with pytest.raises(ServiceError) as exc:
        services.status("redis", lab)
    assert "cannot reach supervisor" in str(exc.value) and "none.sock" in str(exc.value)
