"""probes.load judges windows of the live statistics, hung requests included (no lab needed:
a live file written here stands for a run)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import free_port, write_target

from controls import evidence
from probes import load

ORDERS = "/api/v1/order"


@pytest.fixture
def run(tmp_path):
    """A recorded load run whose live file the test writes, second by second."""
    configuration = write_target(tmp_path, prometheus_url=f"http://127.0.0.1:{free_port()}")
    run_dir = tmp_path / "run"
    (run_dir / "locust").mkdir(parents=True)
    live = run_dir / "locust" / "live.jsonl"
    current = tmp_path / "state" / "load" / "current.json"
    current.parent.mkdir(parents=True)
    current.write_text(
        json.dumps(
            {
                "run_dir": str(run_dir),
                "live_file": str(live),
                "request_timeout_s": 5,
                "user_classes": {"RushHourCustomer": 1},
            }
        )
    )

    def write(*seconds: dict) -> None:
        now = int(time.time())
        lines = [
            json.dumps({"t": now - len(seconds) + i, "by_name": {ORDERS: second}})
            for i, second in enumerate(seconds)
        ]
        live.write_text("\n".join(lines) + "\n")

    return configuration, write


def answered(n: int, ms: str = "3.0", code: str = "200") -> dict:
    failures = 0 if code == "200" else n
    return {"count": n, "failures": failures, "codes": {code: n}, "hist": {ms: n}, "started": n}


def test_a_window_of_fast_answers_is_within_limits(run):
    configuration, write = run
    write(*[answered(10)] * 5)
    facts = load.load_within(5, p99_ms=200, max_failure_ratio=0.01, configuration=configuration)
    assert facts["count"] == 50 and facts["in_flight"] == 0 and facts["p99_ms"] < 5
    assert "not_available" in facts["server_view"], "no Prometheus here: reported, not judged"


def test_requests_hanging_at_the_window_end_fail_the_p99_bound(run):
    """What Locust alone would never show: 10 answered fast, 20 still open at 22 s."""
    configuration, write = run
    hung = {**answered(10), "open": 20, "open_hist": {"22000.0": 20}, "oldest_open_ms": 22000.0}
    write(answered(10), hung)
    with pytest.raises(ActivityFailed) as exc:
        load.load_within(2, p99_ms=2500, configuration=configuration)
    assert "P99 <= 2500 ms" in str(exc.value) and "20 still open" in str(exc.value)
    failure = evidence.take()
    assert failure["figures"]["in_flight"] == 20 and failure["figures"]["p99_ms"] > 20000


def test_a_request_open_past_the_timeout_is_an_answer_of_none(run):
    configuration, write = run
    write({**answered(10), "open": 1, "open_hist": {"6000.0": 1}, "oldest_open_ms": 6000.0})
    with pytest.raises(ActivityFailed) as exc:
        load.unexpected_answers(1, configuration=configuration)
    assert "only ['200', '503']" in str(exc.value) and "'0': 1" in str(exc.value)
    quiet = load.unexpected_answers(1, raise_on_unexpected=False, configuration=configuration)
    assert quiet["unexpected"] == {"0": 1}


def test_the_answer_rate_is_judged_against_the_baseline(run):
    configuration, write = run
    write(*[answered(10)] * 4)
    load.load_within(4, p99_ms=200, save_as_baseline=True, configuration=configuration)
    write(*[answered(8)] * 4)  # answers of 0.5 s keep 0.714 of a rush customer's pace
    kept = load.load_within(4, keeps_pace_at_ms=500, configuration=configuration)
    assert kept["answer_ratio"] == pytest.approx(0.8) and kept["pace_floor"] == 0.714
    write(*[answered(1)] * 4)  # 10/s collapsed to 1/s: the system hangs, it does not fail fast
    with pytest.raises(ActivityFailed) as exc:
        load.load_within(4, keeps_pace_at_ms=500, configuration=configuration)
    assert "answers/s >= 0.714 x the baseline's" in str(exc.value) and "0.1 x" in str(exc.value)


def test_an_answer_ratio_without_a_baseline_says_what_to_do(run):
    configuration, write = run
    write(answered(5))
    with pytest.raises(ActivityFailed) as exc:
        load.load_within(1, keeps_pace_at_ms=500, configuration=configuration)
    assert "save_as_baseline=True" in str(exc.value)


def test_no_request_at_all_is_not_a_healthy_window(run):
    configuration, write = run
    write({"count": 0, "failures": 0, "codes": {}, "hist": {}, "started": 0})
    with pytest.raises(ActivityFailed) as exc:
        load.load_within(1, p99_ms=200, configuration=configuration)
    assert "none made" in str(exc.value)


def test_a_recovery_the_load_ended_before_is_judged_not_waited_for(run, tmp_path, monkeypatch):
    """The load stopped writing seconds before the recovery bound: the probe deviates on what
    it wrote, by the bound plus a grace, instead of waiting for seconds that never come."""
    configuration, write = run
    write(*[answered(10, ms="3000.0")] * 6)
    began = int(time.time()) - 6
    current = tmp_path / "state" / "load" / "current.json"
    started = datetime.fromtimestamp(began, UTC).isoformat()
    current.write_text(json.dumps({**json.loads(current.read_text()), "started_at": started}))
    monkeypatch.setattr(load, "LIVE_GRACE_S", 0)
    with pytest.raises(ActivityFailed) as exc:
        load.p99_recovers_after_drop(
            2, within_s=3, window_s=2, p99_ms=200, configuration=configuration
        )
    assert "P99 back under 200 ms within 3 s" in str(exc.value)
    assert f"the load's seconds end at {began + 5}" in str(exc.value)
