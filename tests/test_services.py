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

REPO = Path(__file__).resolve().parent.parent
GAMEDAY = str(Path(sys.executable).parent / "gameday")


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
    try:
        with pytest.raises(LedgerError) as exc:
            ledger.recover(target)
        assert toxic in str(exc.value) and "1 fault(s)" in str(exc.value)
        assert running(target, "redis")
        assert [e["id"] for e in book.entries()] == [toxic]
    finally:
        book.resolve(toxic)  # no toxic was made: the machine's ledgers must not keep it


# A kill stops the program's group (SIGSTOP), lists its tree, then SIGKILLs it. This runner
# is interrupted right after the SIGSTOP (the test hook wraps os.killpg): by a signal it
# handles like the safety control (SIGTERM: SystemExit), or by SIGKILL.
INTERRUPTED_KILL = """
import os, signal, sys
from gameday import services
from gameday.target import load_target

signal.signal(signal.SIGTERM, lambda *_: sys.exit(20))
real_killpg = os.killpg


def killpg(pgid, signum):
    real_killpg(pgid, signum)
    if signum == signal.SIGSTOP:
        os.kill(os.getpid(), getattr(signal, sys.argv[2]))


os.killpg = killpg
services.kill(sys.argv[1], load_target())
"""


def frozen(target, name: str) -> list[int]:
    """The pids in state T (stopped) in the program's process group and tree."""
    pid = services.status(name, target)["pid"]
    if not pid:
        return []
    leader = psutil.Process(pid)
    tree = [leader, *leader.children(recursive=True)]
    tree += [p for p in psutil.process_iter() if _pgid(p.pid) == pid]
    return sorted({p.pid for p in tree if _status(p) == psutil.STATUS_STOPPED})


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _status(process: psutil.Process) -> str | None:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return None


def _continue(pgid: int) -> None:
    """Whatever the test saw, leave no group stopped behind."""
    try:
        os.killpg(pgid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _interrupt_a_kill(service: str, signame: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_KILL, service, signame],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode


@pytest.mark.lab
def test_a_signal_between_sigstop_and_sigkill_waits_until_the_kill_is_done(lab) -> None:
    before = services.status("aggregator", lab)["pid"]
    try:
        assert _interrupt_a_kill("aggregator", "SIGTERM") == 20  # the signal did stop it
        assert not psutil.pid_exists(before) or psutil.Process(before).status() == "zombie"
        assert frozen(lab, "aggregator") == []
    finally:
        _continue(before)
        ledger.recover(lab)
    assert running(lab, "aggregator")


@pytest.mark.lab
def test_recover_continues_a_service_a_sigkilled_kill_left_stopped(lab) -> None:
    before = services.status("aggregator", lab)["pid"]
    try:
        assert _interrupt_a_kill("aggregator", "SIGKILL") == -signal.SIGKILL
        assert frozen(lab, "aggregator"), "the crash should have left the group stopped"
        assert running(lab, "aggregator")  # supervisor cannot tell
        done = subprocess.run(
            [GAMEDAY, "recover"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert frozen(lab, "aggregator") == []
        assert running(lab, "aggregator")
    finally:
        _continue(before)
        ledger.recover(lab)


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
