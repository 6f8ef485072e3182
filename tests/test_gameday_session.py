"""Game days end to end against the lab: one session steered by hand (pause, resume), its
live line, report (opened offline in headless Chromium), JUnit XML and history; a session
stopped by abort, Ctrl-C or the kill switch; a crashed session continued with --resume.

Every session leaves the lab as clean as it found it (the ledger empty, every service up).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from datetime import datetime

import psutil
import pytest
from junitparser import JUnitXml

from gameday import livestats
from gameday.target import load_target
from tests import chromium, reportcheck
from tests.conftest import lab_state, wait_ready
from tests.gamedays import (
    REPO,
    deviating,
    gameday,
    held_fault,
    launch,
    ready_only,
    session_dir,
    wait_until,
    write_plan,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
KILL_REDIS_QUICKER = {
    "baseline_s": 6,
    "fault_s": 10,
    "recovery_window_s": 5,
    "warmup_s": 5,
    "hypothesis_samples": 10,
}
LIVE_LINE = re.compile(
    r"^\[1/2\] kill-redis  (baseline|fault|revert|recovery|after)  \d\d:\d\d / ~\d\d:\d\d left \(session ~\d\d:\d\d\)"
    r"  \|  \d+ answered/s  \d+ failed/s  P99 \d+ ms  \|  last probe: \S+ (ok|FAILED)$",
    re.M,
)


def _clean(target) -> None:
    assert wait_ready(target, 60)
    assert not any(lab_state(target).values())


@pytest.fixture(scope="module")
def steered(tmp_path_factory):
    """kill-redis (shortened) then a held fault, with background dashboard viewers; paused
    during the first experiment, resumed once the session holds."""
    target = load_target()
    _clean(target)
    work = tmp_path_factory.mktemp("steered")
    plan = write_plan(
        work,
        [
            {"path": REPO / "experiments/kill-redis.json", "profile": "quick",
             "vars": KILL_REDIS_QUICKER, "weight": 2},
            {"name": "held", "body": held_fault("Aggregator killed for 2 s", hold_s=2)},
        ],
        background_load={"users": 1, "user_classes": "DashboardViewer=1"},
    )  # fmt: skip
    runs, out = work / "runs", work / "out.txt"
    process = launch(
        ["run", "--runs-dir", str(runs), "--junit", str(work / "junit.xml"), str(plan)], out
    )
    wait_until(
        lambda: list(runs.glob("gameday-*/01-kill-redis/progress.json")), 90, "the first run"
    )
    paused = gameday("pause")
    wait_until(lambda: "] held  paused" in out.read_text(), 180, "the session to hold")
    held_dirs = list(session_dir(runs).glob("02-*"))
    resumed = gameday("resume")
    code = process.wait(timeout=180)
    yield {
        "code": code, "out": out.read_text(), "runs": runs, "dir": session_dir(runs),
        "paused": paused, "resumed": resumed, "held_dirs": held_dirs, "work": work,
    }  # fmt: skip
    _clean(target)


def test_pause_holds_the_session_before_the_next_experiment_and_resume_goes_on(steered):
    assert steered["paused"].returncode == 0, steered["paused"].stderr
    assert "will pause before its next experiment" in steered["paused"].stdout
    assert steered["held_dirs"] == [], "the second experiment started while paused"
    assert steered["resumed"].returncode == 0 and steered["code"] == 0, steered["out"][-3000:]
    assert "[2/2] PASSED: Aggregator killed for 2 s" in steered["out"]


def test_the_live_line_says_experiment_phase_time_load_and_last_probe(steered):
    lines = LIVE_LINE.findall(steered["out"])
    phases = {phase for phase, _ in lines}
    assert {"baseline", "fault", "after"} <= phases, steered["out"][:3000]
    assert "[2/2] held  gate  " in steered["out"]


def test_the_report_opens_offline_with_a_chart_per_experiment_and_the_503s_inside_the_fault(
    steered,
):
    if chromium.available():
        pytest.fail(chromium.available())
    page = steered["dir"] / "report.html"
    seen = reportcheck.inspect(page, steered["work"] / "report.png")
    assert reportcheck.problems(page, seen, expected_charts=2) == []
    assert seen["load_s"] < 5 and (steered["work"] / "report.png").stat().st_size > 50_000
    kill_redis = seen["data"][0]
    assert any(f[2] == "redis down (SIGKILL)" for f in kill_redis["faults"])
    rates = next(p for p in kill_redis["panels"] if p["title"].startswith("Load: requests/s"))
    assert any(rates["series"]["failed/s 503"]), "the load saw no 503 while Redis was down"
    if os.environ.get("GAMEDAY_DOCS_SCREENSHOT"):
        shutil.copy(steered["work"] / "report.png", REPO / "docs" / "gameday-report.png")


def test_the_background_load_ran_through_the_session_beside_the_experiments(steered):
    seconds = livestats.read_seconds(steered["dir"] / "background" / "locust" / "live.jsonl")
    names = {name for second in seconds for name in second["by_name"]}
    assert names == {"/api/dashboard"}
    journal = json.loads((steered["dir"] / "01-kill-redis" / "journal.json").read_text())
    began, ended = (datetime.fromisoformat(journal[k]).timestamp() for k in ("start", "end"))
    assert seconds[0]["t"] < began and seconds[-1]["t"] > ended


def test_junit_has_a_testcase_per_experiment(steered):
    xml = JUnitXml.fromfile(str(steered["work"] / "junit.xml"))
    (suite,) = list(xml)
    cases = {case.name: case for case in suite}
    assert set(cases) == {"kill-redis", "held"}
    assert all(case.is_passed for case in cases.values())


def test_the_session_is_in_the_history_with_its_figures(steered):
    (line,) = (steered["runs"] / "history.jsonl").read_text().splitlines()
    entry = json.loads(line)
    figures = entry["experiments"]["kill-redis"]
    assert entry["score"] == 100 and entry["target"] == load_target().api_url
    assert figures["outage_s"] >= 3 and figures["p99_during_fault_ms"] > 0


@pytest.mark.parametrize("how", ["abort", "ctrl-c", "kill-switch"])
def test_a_stopped_session_rolls_back_and_reports_what_ran(tmp_path, how):
    target = load_target()
    _clean(target)
    # A signal that lands while the kill action runs waits out its 20 s pause (chaoslib
    # sleeps an activity's pause-after in a `finally`, even when interrupted), then rolls back.
    held = held_fault("Aggregator killed for 20 s", hold_s=20, safeguards=True)
    plan = write_plan(tmp_path, [{"name": "first", "body": held}, {"name": "second", "body": held}])
    runs = tmp_path / "runs"
    process = launch(["run", "--runs-dir", str(runs), str(plan)], tmp_path / "out.txt")
    try:
        wait_until(lambda: lab_state(target)["ledger"], 60, "the fault to be recorded")
        if how == "abort":
            assert gameday("abort").returncode == 0
        elif how == "ctrl-c":
            os.kill(process.pid, signal.SIGINT)
        else:
            target.kill_switch.write_text("test\n")
        code = process.wait(timeout=90)
    finally:
        target.kill_switch.unlink(missing_ok=True)
    out = (tmp_path / "out.txt").read_text()
    assert code == (1 if how == "kill-switch" else 130), out
    assert "[1/2] INTERRUPTED" in out and "NOT RUN   Aggregator killed" in out
    report = (session_dir(runs) / "report.md").read_text()
    assert "| interrupted |" in report and "| not run |" in report
    _clean(target)


def test_a_crashed_session_is_resumed_skipping_what_completed(tmp_path):
    target = load_target()
    _clean(target)
    plan = write_plan(
        tmp_path,
        [
            {"name": "first", "body": ready_only("Ready, nothing else")},
            {"name": "second", "body": held_fault("Aggregator killed for 60 s", hold_s=60)},
        ],
    )
    runs = tmp_path / "runs"
    process = launch(["run", "--runs-dir", str(runs), str(plan)], tmp_path / "out.txt")
    wait_until(lambda: lab_state(target)["ledger"], 90, "the second experiment's fault")
    group = [process.pid, *(p.pid for p in psutil.Process(process.pid).children(recursive=True))]
    for pid in group:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    process.wait(timeout=10)
    assert lab_state(target)["ledger"], "the crash must leave the fault behind"
    assert gameday("recover").returncode == 0
    directory = session_dir(runs)
    held = held_fault("Aggregator killed for 1 s", hold_s=1)  # the rerun need not hold long
    (tmp_path / "second.json").write_text(json.dumps(held))
    resumed = gameday("run", "--runs-dir", str(runs), "--resume", str(directory))
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "[1/2] first: completed earlier, skipped" in resumed.stdout
    assert "[2/2] PASSED: Aggregator killed for 1 s" in resumed.stdout
    assert (directory / "02-second.attempt1").is_dir(), "the crashed attempt's evidence is kept"
    _clean(target)


@pytest.mark.parametrize("on_deviation", ["stop", "continue"])
def test_on_deviation_stops_the_session_or_goes_on_after_the_cool_down(tmp_path, on_deviation):
    target = load_target()
    _clean(target)
    plan = write_plan(
        tmp_path,
        [{"name": "deviates", "body": deviating("Expects what is not")},
         {"name": "second", "body": ready_only("Ready, nothing else")}],
        on_deviation=on_deviation, cooldown_s=3,
    )  # fmt: skip
    runs = tmp_path / "runs"
    result = gameday("run", "--runs-dir", str(runs), str(plan))
    assert result.returncode == 1, result.stdout[-3000:]
    assert "[1/2] DEVIATED: Expects what is not" in result.stdout
    state = json.loads((session_dir(runs) / "session.json").read_text())
    if on_deviation == "stop":
        assert "NOT RUN   Ready, nothing else" in result.stdout
        assert state["stopped"] == "deviates deviated and on_deviation is stop"
        assert "cool-down" not in result.stdout
    else:
        assert "[2/2] PASSED: Ready, nothing else" in result.stdout and not state["stopped"]
        assert "[1/2] deviates  cool-down" in result.stdout
        first, second = (
            json.loads((session_dir(runs) / f"0{i}-{name}" / "journal.json").read_text())
            for i, name in ((1, "deviates"), (2, "second"))
        )
        gap = datetime.fromisoformat(second["start"]) - datetime.fromisoformat(first["end"])
        assert gap.total_seconds() >= 3 + 1, "the cool-down, then the gate's settle_s"
    _clean(target)
