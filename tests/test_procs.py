"""gameday.procs and the Locust reverter's checks: a pid alone names nobody.

The processes here are this test's own children (``sleep`` in a session of its own), not
the lab's: a stopped one is found and continued, and a mark or a start time that does not
match protects a process from being signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from gameday import locustprocess, procs


@pytest.fixture
def sleeper():
    """A child ``sleep`` leading a process group of its own (as a supervisor program does)."""
    children = []

    def spawn(env: dict | None = None) -> subprocess.Popen:
        child = subprocess.Popen(
            ["sleep", "60"], start_new_session=True, env={**os.environ, **(env or {})}
        )
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.kill()
        child.wait()


def _state(pid: int, wanted: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        process = procs.read(pid)
        if process and process.state == wanted:
            return True
        time.sleep(0.05)
    return False


def test_read_tells_a_process_by_its_start_time_and_boot(sleeper):
    child = sleeper()
    recorded = procs.identity(child.pid)
    assert recorded["pid"] == child.pid and recorded["boot_id"] == procs.boot_id()
    assert procs.is_same(recorded)
    assert not procs.is_same({**recorded, "start_ticks": recorded["start_ticks"] - 1})
    assert not procs.is_same({**recorded, "boot_id": "an earlier boot"})
    assert procs.read(child.pid).pgid == child.pid


def test_an_entry_recorded_with_psutils_create_time_is_checked_against_it(sleeper):
    child = sleeper()
    started = psutil.Process(child.pid).create_time()
    assert procs.same({"pid": child.pid, "started": started}).pid == child.pid
    assert procs.same({"pid": child.pid, "started": started - 0.05}) is None
    assert not procs.is_same({"pid": child.pid, "started": started + 5})
    assert not procs.is_same({"pid": child.pid})  # neither start time: nobody


def test_a_stopped_group_is_found_and_continued(sleeper):
    child = sleeper()
    os.killpg(child.pid, signal.SIGSTOP)
    assert _state(child.pid, "T")
    stopped = procs.stopped_under(child.pid)
    assert [p.pid for p in stopped] == [child.pid]
    assert procs.thaw(stopped) == [child.pid]
    assert _state(child.pid, "S") and procs.stopped_under(child.pid) == []


def test_send_refuses_a_pid_that_is_now_another_process(sleeper):
    child = sleeper()
    listed = procs.read(child.pid)
    impostor = procs.Proc(**{**listed.__dict__, "start_ticks": listed.start_ticks + 1})
    assert procs.send(impostor, signal.SIGKILL) is False
    assert procs.read(child.pid).state != "Z" and child.poll() is None


def test_the_load_reverter_signals_only_the_processes_carrying_the_mark(sleeper):
    marked = sleeper({locustprocess.MARK_ENV: "a" * 32})
    bystander = sleeper({locustprocess.MARK_ENV: "b" * 32})
    unmarked = sleeper()
    assert [p.pid for p in locustprocess.members("a" * 32)] == [marked.pid]
    # the recorded master pid is the bystander's, from an earlier boot: it must be left alone
    master = {"pid": bystander.pid, "start_ticks": 1, "boot_id": "an earlier boot"}
    outcome = locustprocess.terminate("a" * 32, master)
    assert outcome == {"stopped": "killed"}
    assert marked.wait(timeout=10) == -signal.SIGKILL
    assert bystander.poll() is None and unmarked.poll() is None
    assert locustprocess.terminate("a" * 32, master) == {"stopped": "already gone"}
    assert locustprocess.terminate("", None) == {"stopped": "already gone"}
    assert bystander.poll() is None
