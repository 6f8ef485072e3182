"""What a session produces besides its page: the score, JUnit XML, the history, the live line."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from gameday import history, live
from gameday.junit import write_junit
from gameday.score import score
from gameday.verdict import Verdict, not_run

UNMET = {
    "name": "p99-near-the-baseline-during-the-fault",
    "expected": "all requests over the last 20 s: P99 <= 50 ms (5 x the baseline's 4 ms, floor 50 ms)",
    "observed": "P99 180.2 ms (0 still open)",
}


def _verdict(name: str, status: str, deviated: bool = False, **facts) -> Verdict:
    return Verdict(
        f"experiments/{name}.json", name.title(), status, deviated, 0, Path(name), **facts
    )


VERDICTS = [
    _verdict("kill-redis", "completed"),
    _verdict("kill-postgres", "completed", True, unmet=[UNMET]),
    _verdict(
        "delay-redis", "failed", failed_actions=[{"name": "add-latency", "reason": "refused"}]
    ),
    _verdict(
        "spike",
        "interrupted",
        interrupted_by={"safeguard": "failures-do-not-outlast-the-fault", "reason": "0.9"},
    ),
    _verdict("soak", "interrupted", interrupted_by={"safeguard": None, "reason": "a signal"}),
    not_run(Path("experiments/kill-aggregator.json"), Path("x"), "aborted"),
]
WEIGHTS = [2.0, 2.0, 1.0, 1.0, 1.0, 1.0]


def test_the_score_is_the_weighted_share_of_passed_among_the_experiments_that_measured():
    result = score(VERDICTS, WEIGHTS)
    # counted: kill-redis 2 (passed), kill-postgres 2 (deviated), spike 1 (safeguard: harm)
    assert result.value == pytest.approx(100 * 2 / 5)
    assert [e["name"] for e in result.excluded] == ["delay-redis", "soak", "kill-aggregator"]
    assert "action add-latency failed: refused" in result.excluded[0]["why"]


def test_nothing_measured_gives_no_score():
    assert score(VERDICTS[2:3], [1.0]).value is None


def test_junit_says_failure_for_a_deviation_error_for_a_failed_run_and_skips_the_rest(tmp_path):
    path = write_junit(tmp_path / "junit.xml", "Quick game day", VERDICTS, score(VERDICTS, WEIGHTS))
    (suite,) = list(JUnitXml.fromfile(str(path)))
    cases = {case.name: case for case in suite}
    assert cases["kill-redis"].is_passed
    (failure,) = cases["kill-postgres"].result
    assert isinstance(failure, Failure)
    assert failure.message == (
        f"{UNMET['name']}: expected {UNMET['expected']}; observed {UNMET['observed']}"
    )
    assert all(isinstance(cases[n].result[0], Error) for n in ("delay-redis", "spike", "soak"))
    assert isinstance(cases["kill-aggregator"].result[0], Skipped)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (6, 1, 3, 1)


def test_history_flags_a_regression_past_20_percent_and_the_minimum(tmp_path):
    path = tmp_path / "history.jsonl"
    before = {
        "p99_during_fault_ms": 10.0,
        "outage_s": 10,
        "recovery_s": 1.0,
        "capacity_orders_per_s": 50,
    }
    history.append(path, {"session": "s1", "target": "t", "experiments": {"kill-redis": before}})
    history.append(
        path, {"session": "other", "target": "elsewhere", "experiments": {"kill-redis": {}}}
    )
    now = {
        "p99_during_fault_ms": 14.0,
        "outage_s": 11,
        "recovery_s": 1.4,
        "capacity_orders_per_s": 38,
    }
    compared = history.compare(path, "t", "s2", {"kill-redis": now, "spike": {}})
    figures = compared["kill-redis"]["figures"]
    assert compared["kill-redis"]["previous"] == "s1" and compared["spike"]["previous"] is None
    assert figures["p99_during_fault_ms"]["regression"] is False, "+4 ms is under the 5 ms floor"
    assert figures["outage_s"]["regression"] is False, "+10 % is under 20 %"
    assert figures["recovery_s"]["regression"] is False, "+0.4 s is under 0.5 s"
    assert figures["capacity_orders_per_s"]["regression"] is True, "-24 % capacity"
    worse = history.compare(path, "t", "s2", {"kill-redis": {**now, "p99_during_fault_ms": 16}})
    assert worse["kill-redis"]["figures"]["p99_during_fault_ms"]["regression"] is True


def test_the_live_line_reads_the_runs_progress_and_newest_second(tmp_path):
    (tmp_path / "locust").mkdir()
    seconds = [
        {"t": 100 + i, "by_name": {"/api/v1/order": {"count": 9, "failures": 2,
         "codes": {"200": 7, "503": 2}, "hist": {"4.0": 8, "30.0": 1}}}}
        for i in range(3)
    ]  # fmt: skip
    (tmp_path / "locust" / "live.jsonl").write_text("".join(json.dumps(s) + "\n" for s in seconds))
    progress = {"phase": "fault", "last_probe": {"name": "readyz-names-redis", "ok": True}}
    (tmp_path / "progress.json").write_text(json.dumps(progress))
    status = {"k": 2, "n": 6, "name": "kill-postgres", "since": time.time() - 72.3,
              "run_dir": str(tmp_path), "estimate_s": 107.6, "after_s": 300}  # fmt: skip
    line = live.describe(status)
    assert line == (
        "[2/6] kill-postgres  fault  01:12 / ~00:35 left (session ~05:35)  |  7 answered/s  2 failed/s  P99 30 ms"
        "  |  last probe: readyz-names-redis ok"
    )
    waiting = live.describe({**status, "state": "paused", "detail": "`gameday resume` continues"})
    assert waiting.startswith("[2/6] kill-postgres  paused  01:12") and "gameday resume" in waiting


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_live_line_is_redrawn_with_rich():
    out = _Terminal()
    status = {"k": 1, "n": 2, "name": "kill-redis", "since": time.time(), "state": "gate",
              "detail": "waiting for the lab"}  # fmt: skip
    with live.LiveLine(lambda: status, out) as line:
        time.sleep(2.2)
    assert line.rich
    assert "[1/2] kill-redis  gate  00:0" in out.getvalue() and "\x1b[" in out.getvalue()
