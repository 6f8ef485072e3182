"""stress-ng as a recorded holder, on the lab's host: recorded before it starts, pinned to the
API's CPUs, killed with its workers by the revert and by recover after a SIGKILLed runner;
bad input refused, naming it, before anything starts. Each stressor runs a few seconds, at
a low load: never outside the lab lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cafe_helpers import wait_until
from system_recover import recover_with_system_python
from target_files import write_target

from gameday import ledger, procs, services, stress
from gameday.target import load_target


@pytest.fixture
def target(tmp_path: Path):
    """A lab target with its ledger under tmp_path; no stressor is left after the test."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
    assert stress.running() == [], "a stressor outlived the test"


@pytest.mark.lab
def test_the_cpu_stressor_is_recorded_pinned_and_killed_with_its_workers(target) -> None:
    started = stress.starve_cpu(target, hold_s=10, load_pct=10, nice=5)
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "holder" and entry["subject"] == "cpu stressor"
    assert entry["revert"]["pid"] == started["pid"] == started["pgid"]
    assert entry["revert"]["start_ticks"] == procs.read(started["pid"]).start_ticks
    api = services.status("api", target)["pid"]
    assert started["cpus"] == sorted(os.sched_getaffinity(api))
    workers = [p for p in procs.group(started["pid"]) if p.pid != started["pid"]]
    assert len(workers) == started["workers"] and all(
        os.sched_getaffinity(p.pid) <= set(started["cpus"])
        and os.getpriority(os.PRIO_PROCESS, p.pid) == 5
        for p in workers
    )
    assert "--timeout" in started["command"] and "15s" in started["command"]

    stopped = stress.release(target, "cpu")
    assert stopped["changed"] and stopped["stopped"][0]["outcome"] == "killed"
    assert stopped["left"] == [] and ledger.ledger_for(target).entries() == []
    assert stress.release(target, "cpu")["changed"] is False


@pytest.mark.lab
def test_the_memory_stressor_holds_its_share_until_killed(target) -> None:
    started = stress.take_memory(target, hold_s=10, share_of_available=0.02)
    assert started["taken_bytes"] == int(started["mem_available_bytes"] * 0.02)
    assert stress._resident(procs.group(started["pid"])) >= 0.9 * started["taken_bytes"]
    assert all(
        Path(f"/proc/{p.pid}/oom_score_adj").read_text().strip() == "1000"
        for p in procs.group(started["pid"])
    ), "the OOM killer takes the stressor first"
    [entry] = ledger.ledger_for(target).entries()
    assert entry["subject"] == "memory stressor" and "MiB" in entry["note"]
    assert stress.release(target, "memory")["left"] == []


@pytest.mark.lab
def test_stress_ng_stops_by_itself_after_its_timeout(target) -> None:
    started = stress.starve_cpu(target, hold_s=1, load_pct=5)
    assert started["timeout_s"] == 6
    wait_until(lambda: not procs.group(started["pid"]), timeout=15)


@pytest.mark.lab
def test_a_stressor_left_by_a_sigkilled_runner_is_killed_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import stress\n"
        "from gameday.target import load_target\n"
        "stress.starve_cpu(load_target({'target_file': sys.argv[1]}), hold_s=60, load_pct=10)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert stress.running(), "the stressor died with its runner: nothing for recover to do"
    [reverted] = recover_with_system_python(tmp_path / "target.json")
    assert reverted["kind"] == "holder" and reverted["result"]["outcome"] == "killed"
    assert stress.running() == []


@pytest.mark.parametrize(
    ("call", "arguments", "names"),
    [
        ("starve_cpu", {"hold_s": 0}, "hold_s"),
        ("starve_cpu", {"hold_s": 7200}, "hold_s"),
        ("starve_cpu", {"hold_s": "60"}, "hold_s"),
        ("starve_cpu", {"load_pct": 0}, "load_pct"),
        ("starve_cpu", {"load_pct": 101}, "load_pct"),
        ("starve_cpu", {"load_pct": 50.5}, "load_pct"),
        ("starve_cpu", {"workers_per_cpu": 9}, "workers_per_cpu"),
        ("starve_cpu", {"workers_per_cpu": 0}, "workers_per_cpu"),
        ("starve_cpu", {"nice": -21}, "nice"),
        ("starve_cpu", {"nice": 2.5}, "nice"),
        ("take_memory", {"share_of_available": 0.9}, "share_of_available"),
        ("take_memory", {"share_of_available": 0}, "share_of_available"),
        ("take_memory", {"share_of_available": True}, "share_of_available"),
        ("take_memory", {"hold_s": -1}, "hold_s"),
    ],
)
def test_bad_input_is_refused_naming_it_before_anything_starts(tmp_path, call, arguments, names):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(stress.StressError) as exc:
        getattr(stress, call)(lab, **arguments)
    assert names in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []


def test_an_unknown_stressor_is_refused_naming_the_kinds(tmp_path):
    with pytest.raises(stress.StressError) as exc:
        stress.release(load_target(write_target(tmp_path)), "disk")
    assert "cpu, memory" in str(exc.value)
