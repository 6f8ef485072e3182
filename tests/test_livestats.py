"""gameday.livestats: windows, merges and percentiles over synthetic live files."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gameday import livestats

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"


def _second(t: int, **by_name: dict) -> str:
    return json.dumps({"t": t, "by_name": by_name})


def _stats(count: int, failures: int, codes: dict, hist: dict) -> dict:
    return {"count": count, "failures": failures, "codes": codes, "hist": hist}


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "live.jsonl"
    lines = [
        _second(100, **{"/api/v1/order": _stats(10, 0, {"200": 10}, {"10.0": 10})}),
        _second(101, **{"/api/v1/order": _stats(10, 2, {"200": 8, "503": 2}, {"20.0": 10})}),
        _second(
            102,
            **{
                "/api/v1/order": _stats(10, 5, {"200": 5, "503": 5}, {"30.0": 10}),
                "/api/dashboard": _stats(4, 0, {"200": 4}, {"1.0": 4}),
            },
        ),
        _second(103),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_window_merges_the_newest_seconds(live):
    facts = livestats.window(live, 2, "/api/v1/order")
    assert (facts["from_t"], facts["to_t"]) == (102, 103)
    assert facts["count"] == 10 and facts["failures"] == 5
    assert facts["failure_ratio"] == 0.5
    assert facts["rps"] == 5.0
    assert facts["codes"] == {"200": 5, "503": 5}


def test_window_over_all_names_and_more_seconds(live):
    facts = livestats.window(live, 3)
    assert facts["count"] == 24
    assert facts["codes"] == {"200": 17, "503": 7}
    assert facts["p50_ms"] == pytest.approx(20.05)
    assert facts["p99_ms"] == pytest.approx(30.05)


def test_window_longer_than_the_file_counts_only_the_seconds_there(live):
    facts = livestats.window(live, 60, "/api/v1/order")
    assert facts["count"] == 30
    assert facts["rps"] == 7.5  # 30 requests over the 4 seconds recorded


def test_an_empty_window_has_no_percentiles(live):
    facts = livestats.window(live, 1)
    assert facts["count"] == 0 and facts["p99_ms"] is None and facts["failure_ratio"] == 0.0


def test_a_line_being_written_is_skipped(live):
    with open(live, "a") as handle:
        handle.write('{"t": 104, "by_name": {"/api/v1/ord')
    facts = livestats.window(live, 1, "/api/v1/order")
    assert facts["to_t"] == 103 and facts["count"] == 0


def test_per_window_cuts_the_run_into_consecutive_windows(live):
    series = livestats.per_window(live, 2, "/api/v1/order")
    assert [(w["from_t"], w["to_t"], w["count"]) for w in series] == [
        (100, 101, 20),
        (102, 103, 10),
    ]
    assert series[0]["failure_ratio"] == 0.1


def test_percentile_uses_the_nearest_rank_and_the_bucket_middle():
    hist = {"1.0": 98, "250.0": 1, "1230.0": 1}
    assert livestats.percentile(hist, 0.98) == pytest.approx(1.005)
    assert livestats.percentile(hist, 0.99) == pytest.approx(250.5)
    assert livestats.percentile(hist, 1.0) == pytest.approx(1235.0)
    assert livestats.percentile({}, 0.99) is None


def test_reading_the_tail_of_a_long_file_gives_the_same_window(tmp_path):
    path = tmp_path / "live.jsonl"
    filler = {"/x": _stats(1, 0, {"200": 1}, {str(float(i)): 1 for i in range(1, 400)})}
    path.write_text("\n".join(_second(t, **filler) for t in range(1000, 1600)) + "\n")
    assert path.stat().st_size > 4 * 64 * 1024  # the tail is read block by block
    facts = livestats.window(path, 5)
    assert (facts["from_t"], facts["to_t"], facts["count"]) == (1595, 1599, 5)


def test_bad_inputs_are_refused_with_a_clear_message(tmp_path, live):
    with pytest.raises(livestats.LiveStatsError) as exc:
        livestats.window(tmp_path / "nope.jsonl", 10)
    assert "does not exist" in str(exc.value) and "load running" in str(exc.value)
    with pytest.raises(livestats.LiveStatsError) as exc:
        livestats.window(live, 0)
    assert "whole number of seconds >= 1" in str(exc.value)
    with pytest.raises(livestats.LiveStatsError) as exc:
        livestats.percentile({"1.0": 1}, 1.5)
    assert "(0, 1]" in str(exc.value)


def test_p99_from_the_locust_side_histograms_is_within_one_percent(tmp_path):
    """Latencies recorded by workloads/instrumentation.py, percentiles by livestats."""
    rng = random.Random(7)
    samples = [rng.lognormvariate(3.5, 0.8) for _ in range(20000)]
    live = tmp_path / "live.jsonl"
    code = f"""
        import instrumentation, json, time
        time.time = lambda: 5000.0  # a fixed clock, in this throw-away process only
        r = instrumentation.LiveRecorder({str(live)!r}, None)
        for value in json.loads(open({str(tmp_path / "samples.json")!r}).read()):
            r.on_request("/api/v1/order", value, 200, False)
        r.flush(final=True)
    """
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=WORKLOADS,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    facts = livestats.window(live, 1, "/api/v1/order")
    assert facts["count"] == len(samples)
    ordered = sorted(samples)
    for key, fraction in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        exact = ordered[math.ceil(fraction * len(ordered)) - 1]
        assert facts[key] == pytest.approx(exact, rel=0.01), key


def test_event_lines_are_skipped_by_windows_and_read_by_outcome(live):
    assert livestats.outcome(live) == {"finished": False, "exit_code": None, "stop_reason": None}
    with open(live, "a") as handle:
        handle.write(json.dumps({"event": "self-stop", "t_stop": 103, "reason": "self-stop: x"}))
        handle.write("\n" + json.dumps({"event": "quit", "exit_code": 3, "stop_reason": None}))
        handle.write("\n")
    assert livestats.window(live, 2, "/api/v1/order")["to_t"] == 103
    assert [r["t"] for r in livestats.read_seconds(live)] == [100, 101, 102, 103]
    assert livestats.outcome(live) == {
        "finished": True,
        "exit_code": 3,
        "stop_reason": "self-stop: x",
    }


def test_outcome_of_a_missing_live_file_names_it(tmp_path):
    with pytest.raises(livestats.LiveStatsError) as exc:
        livestats.outcome(tmp_path / "gone.jsonl")
    assert "gone.jsonl does not exist" in str(exc.value)


def test_requests_open_at_the_end_of_a_window_count_at_their_age(tmp_path):
    path = tmp_path / "live.jsonl"
    answered = {"count": 99, "failures": 0, "codes": {"200": 99}, "hist": {"2.0": 99}}
    seconds = [
        {
            "t": 10,
            "by_name": {
                "/o": {
                    **answered,
                    "started": 100,
                    "open": 1,
                    "open_hist": {"500.0": 1},
                    "oldest_open_ms": 500.0,
                }
            },
        },
        {
            "t": 11,
            "by_name": {
                "/o": {
                    **answered,
                    "started": 99,
                    "open": 5,
                    "open_hist": {"1500.0": 5},
                    "oldest_open_ms": 1500.0,
                }
            },
        },
    ]
    path.write_text("".join(json.dumps(second) + "\n" for second in seconds))
    facts = livestats.window(path, 2, "/o")
    assert facts["count"] == 198 and facts["started"] == 199
    assert facts["in_flight"] == 5 and facts["oldest_in_flight_ms"] == 1500.0
    assert facts["p99_ms"] > 1000, "5 hung requests of 203 are over 1 %: the P99 sees them"
    assert facts["p50_ms"] < 3
    assert livestats.merge(seconds[:1], "/o")["in_flight"] == 1  # the newest second decides


def test_a_hang_that_never_answers_raises_the_p99_instead_of_vanishing(tmp_path):
    """Answered requests alone look healthy (4 ms); the 20 that never answered decide."""
    path = tmp_path / "live.jsonl"
    quick = {"count": 10, "failures": 0, "codes": {"200": 10}, "hist": {"4.0": 10}, "started": 30}
    hung = {"open": 20, "open_hist": {"22000.0": 20}, "oldest_open_ms": 22000.0}
    path.write_text(json.dumps({"t": 5, "by_name": {"/o": {**quick, **hung}}}) + "\n")
    facts = livestats.window(path, 1, "/o")
    assert facts["p99_ms"] > 20000
    assert facts["count"] == 10 and facts["in_flight"] == 20


def test_every_request_means_every_http_request_not_websocket_events(tmp_path):
    """A push's jitter after an outage is 30 s long but no request waited for it."""
    path = tmp_path / "live.jsonl"
    http = {"method": "GET", "count": 10, "failures": 0, "codes": {"200": 10}, "hist": {"2.0": 10}}
    ws = {"method": "WS", "count": 1, "failures": 0, "codes": {"101": 1}, "hist": {"30000.0": 1}}
    by_name = {"/api/dashboard": http, "/ws/dashboard jitter": ws}
    path.write_text(json.dumps({"t": 1, "by_name": by_name}) + "\n")
    assert livestats.window(path, 1)["p99_ms"] < 3
    assert livestats.window(path, 1, "/ws/dashboard jitter")["p99_ms"] > 29000
