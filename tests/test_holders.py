"""The "holder" reverter on this test's own processes (a ``sh`` and its ``sleep`` in a
session of their own, as a holder runs): the recorded group is killed and waited for, one
whose start time does not match is left alone, and an entry recorded with psutil's create
time (before identities) is still reverted."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from target_files import write_target

from gameday import ledger, procs
from gameday.target import load_target


@pytest.fixture
def target(tmp_path: Path):
    return load_target(write_target(tmp_path))


@pytest.fixture
def holder():
    """A child leading a process group of its own with a grandchild in it."""
    child = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(procs.group(child.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(procs.group(child.pid)) == 2
    yield child
    for member in procs.group(child.pid):
        procs.send(member, signal.SIGKILL)
    child.wait(timeout=10)


def recover_one(target, revert: dict) -> dict:
    ledger.ledger_for(target).record("holder", "lock test.orders", {"action": "kill", **revert})
    [reverted] = ledger.recover(target)
    assert reverted["kind"] == "holder" and ledger.ledger_for(target).entries() == []
    return reverted["result"]


def test_the_recorded_group_is_killed_and_waited_for(target, holder) -> None:
    result = recover_one(target, procs.identity(holder.pid))
    assert result == {"pid": holder.pid, "outcome": "killed"}
    assert procs.group(holder.pid) == [] and procs.read(holder.pid) is None  # reaped too


def test_a_pid_that_is_now_another_process_is_left_alone(target, holder) -> None:
    stale = {**procs.identity(holder.pid)}
    stale["start_ticks"] -= 50
    assert recover_one(target, stale)["outcome"] == "already gone (pid reused)"
    assert len(procs.group(holder.pid)) == 2 and holder.poll() is None


def test_an_entry_recorded_with_psutils_create_time_is_still_reverted(target, holder) -> None:
    started = psutil.Process(holder.pid).create_time()
    assert recover_one(target, {"pid": holder.pid, "started": started - 1})["outcome"] == (
        "already gone (pid reused)"
    )
    assert holder.poll() is None
    assert recover_one(target, {"pid": holder.pid, "started": started})["outcome"] == "killed"
    assert procs.group(holder.pid) == []


def test_a_holder_that_is_gone_is_reverted_without_a_signal(target, holder) -> None:
    recorded = procs.identity(holder.pid)
    for member in procs.group(holder.pid):
        procs.send(member, signal.SIGKILL)
    holder.wait(timeout=10)
    assert recover_one(target, recorded)["outcome"] == "already gone"
