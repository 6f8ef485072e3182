"""Tolerances relative to the baseline, and the history's regression flags, against the lab.

Three sessions on the same target, each one small experiment (orders under load, a
baseline window, the aggregator killed, a window judged at most 3 x the baseline's P99 or
50 ms): without a toxic; with a 60 ms latency toxic on the API's PostgreSQL connections
during the fault only (it deviates, and the history flags a regression); with the same
toxic through both windows, a café that is slow all along (it passes, no regression
against the slow session before it).
"""

from __future__ import annotations

import json

import pytest

from gameday.target import load_target
from tests.conftest import lab_state, wait_ready
from tests.gamedays import gameday, session_dir, slowed, write_plan

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
NAME = "orders-against-their-baseline"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    target = load_target()
    runs = tmp_path_factory.mktemp("relative") / "runs"
    done = {}
    for mode in ("none", "during", "both"):
        assert wait_ready(target, 60) and not any(lab_state(target).values())
        plan = write_plan(runs.parent / mode, [{"name": NAME, "body": slowed(mode)}])
        result = gameday("run", "--runs-dir", str(runs), str(plan))
        directory = session_dir(runs)
        journal = json.loads((directory / f"01-{NAME}" / "journal.json").read_text())
        done[mode] = {"result": result, "dir": directory, "journal": journal}
    assert wait_ready(target, 60) and not any(lab_state(target).values())
    lines = [json.loads(line) for line in (runs / "history.jsonl").read_text().splitlines()]
    return {"runs": done, "history": lines}


def _judged(journal: dict) -> dict:
    (run,) = [r for r in journal["run"] if r["activity"]["name"].startswith("p99-near")]
    return run.get("output") or run["expectation"]["figures"]


def test_a_cafe_slowed_in_both_windows_passes(sessions):
    both = sessions["runs"]["both"]
    assert both["result"].returncode == 0, both["result"].stdout[-2000:]
    bound = _judged(both["journal"])["p99_bound"]
    assert bound["baseline_ms"] >= 60, "the toxic slowed the baseline too"
    assert bound["bound_ms"] == pytest.approx(3 * bound["baseline_ms"], abs=0.01)


def test_a_cafe_slowed_only_during_the_fault_deviates_against_its_baseline(sessions):
    during = sessions["runs"]["during"]
    assert during["result"].returncode == 1
    (unmet,) = during["journal"]["coffee_chaos"]["unmet_expectations"]
    assert unmet["name"] == "p99-near-the-baseline-during-the-fault"
    assert "x the baseline's" in unmet["expected"] and "floor 50 ms" in unmet["expected"]
    page = (during["dir"] / "report.html").read_text()
    assert "bound from the baseline" in page and "(3 x the baseline&#x27;s" in page


def test_the_history_flags_the_regression_and_not_the_steady_slow_session(sessions):
    none, during, both = (entry["experiments"][NAME] for entry in sessions["history"])
    assert during["p99_during_fault_ms"] > none["p99_during_fault_ms"] + 20
    report = (sessions["runs"]["during"]["dir"] / "report.md").read_text()
    assert f"REGRESSION {NAME}: p99_during_fault_ms" in report
    steady = (sessions["runs"]["both"]["dir"] / "report.md").read_text()
    assert "REGRESSION" not in steady, steady
