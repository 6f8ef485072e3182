"""The capacity finder: plan checks, the per-step table, the knee, the saved figure, and a
small step test with real Locust against the real café."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from actions.capacity import find_capacity, search_capacity, start_spike, start_sustained_load
from gameday import capacity
from probes.capacity import capacity_was_found

REPO = Path(__file__).resolve().parent.parent


def _second(t: int, count: int, ms: float, codes: dict | None = None) -> str:
    codes = codes or {"200": count}
    failures = count - codes.get("200", 0)
    stats = {"count": count, "failures": failures, "codes": codes, "hist": {str(ms): count}}
    return json.dumps({"t": t, "by_name": {"/api/v1/order": stats}})


def _row(users: int, offered: float, served: float, p99: float = 10, failures: float = 0):
    return {
        "users": users,
        "offered_per_s": offered,
        "served_per_s": served,
        "requests": 100,
        "p99_ms": p99,
        "failure_ratio": failures,
    }


def test_mean_waits_match_the_locustfile():
    tree = ast.parse((REPO / "workloads" / "locustfile.py").read_text())
    waits = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and isinstance(item.value, ast.Call):
                    low, high = (arg.value for arg in item.value.args)
                    waits[node.name] = (low + high) / 2
    assert {name: waits[name] for name in capacity.MEAN_WAIT_S} == capacity.MEAN_WAIT_S


def test_offered_per_user_weights_the_classes():
    assert capacity.offered_per_user({"RushHourCustomer": 1}) == pytest.approx(0.8)
    mixed = capacity.offered_per_user({"CoffeeConsumer": 1, "RushHourCustomer": 1})
    assert mixed == pytest.approx((1 / 3 + 0.8) / 2)
    with pytest.raises(capacity.CapacityError, match="'DashboardViewer' places no orders"):
        capacity.offered_per_user({"DashboardViewer": 1})


@pytest.mark.parametrize(
    ("steps", "step_s", "settle_s", "rate", "message"),
    [
        ([], 10, 2, 10, "list of whole numbers"),
        ([10, 5], 10, 2, 10, "increasing"),
        ([0, 5], 10, 2, 10, "increasing numbers of users >= 1"),
        ([5, 10], 10, 8, 10, "at least 3 s"),
        ([5, 100], 30, 5, 10, "still be spawning"),
    ],
)
def test_bad_plans_are_refused_naming_the_problem(steps, step_s, settle_s, rate, message):
    with pytest.raises(capacity.CapacityError, match=message):
        capacity.check_plan(steps, step_s, settle_s, rate)


def test_analyse_steps_measures_each_step_after_it_settles(tmp_path):
    live = tmp_path / "live.jsonl"
    lines = [_second(100 + i, 5, 99.0) for i in range(2)]  # settling: not measured
    lines += [_second(102 + i, 10, 4.0) for i in range(7)]
    lines += [_second(110 + i, 50, 500.0) for i in range(2)]  # settling of step 2
    lines += [_second(112 + i, 20, 8.0, {"200": 18, "503": 2}) for i in range(8)]
    live.write_text("\n".join(lines) + "\n")
    table = capacity.analyse_steps(live, 100, [10, 20], 10, 2, per_user=1.0)
    first, second = table
    assert (first["users"], first["from_t"], first["to_t"]) == (10, 102, 108)
    assert first["served_per_s"] == 10 and first["offered_per_s"] == 10
    assert first["p99_ms"] == pytest.approx(4.0, rel=0.01)
    assert second["served_per_s"] == 18 and second["answers_503"] == 14
    assert second["failure_ratio"] == 0.1 and second["p99_ms"] == pytest.approx(8.0, rel=0.01)


def test_the_knee_is_the_first_step_whose_p99_degrades():
    table = [_row(10, 4, 4), _row(100, 40, 39), _row(500, 200, 150, p99=450)]
    knee = capacity.find_knee(table, p99_ms=200, max_failure_ratio=0.01, min_growth=0.5)
    assert knee["orders_per_s"] == 39 and knee["at_users"] == 100
    assert knee["knee_reached"] and knee["knee_users"] == 500
    assert "P99 450 ms over 200 ms" in knee["knee_reason"]


def test_the_knee_on_failures_and_on_stalled_throughput():
    failing = [_row(10, 4, 4), _row(100, 40, 38, failures=0.05)]
    knee = capacity.find_knee(failing, 200, 0.01, 0.5)
    assert knee["orders_per_s"] == 4 and "failure ratio 0.05 over 0.01" in knee["knee_reason"]
    stalled = [_row(10, 4, 4), _row(100, 40, 30), _row(500, 200, 60)]
    knee = capacity.find_knee(stalled, 200, 0.01, 0.5)
    assert knee["orders_per_s"] == 30 and knee["knee_users"] == 500
    assert "grew by 30.00 orders/s for 160.00 more offered" in knee["knee_reason"]


def test_no_knee_gives_a_lower_bound_and_a_first_step_knee_no_figure():
    knee = capacity.find_knee([_row(10, 4, 4), _row(20, 8, 8)], 200, 0.01, 0.5)
    assert knee["orders_per_s"] == 8 and not knee["knee_reached"]
    assert "at least" in capacity.format_table({**knee, "steps": []})
    knee = capacity.find_knee([_row(10, 4, 4, p99=900)], 200, 0.01, 0.5)
    assert knee["orders_per_s"] is None and knee["knee_users"] == 10


def test_a_spike_sized_by_the_capacity_keeps_the_plans_base_to_peak_ratio():
    plan_mix = {"CoffeeConsumer": 10, "RushHourCustomer": 5, "DowntownRegular": 3}
    per_user = capacity.offered_per_user(plan_mix)
    assert capacity.spike_customers(880, 1.0, 50, 500, per_user) == (200, 1997)
    assert capacity.spike_customers(880, 0.5, 50, 500, per_user) == (100, 999)
    assert capacity.spike_customers(0.1, 1.0, 50, 500, per_user) == (1, 2)  # still a spike
    with pytest.raises(capacity.CapacityError, match="needs 11345 customers, more than the 5000"):
        capacity.spike_customers(5000, 1.0, 50, 500, per_user)


def test_measure_counts_requests_still_open_at_the_steps_end_at_their_age(tmp_path):
    """A step whose requests hang must not look fast: they count at their age."""
    seconds = [json.loads(_second(100 + i, 10, 5.0)) for i in range(5)]
    last = seconds[-1]["by_name"]["/api/v1/order"]
    last.update(open=10, open_hist={"3000.0": 10}, oldest_open_ms=3000.0)
    row = capacity.measure(seconds, 100, 105, offered_per_s=20)
    assert row["served_per_s"] == 10 and row["in_flight"] == 10
    assert row["p99_ms"] >= 3000 and row["p50_ms"] == pytest.approx(5.0, rel=0.01)
    assert "P99" in capacity.latency_or_failures(row, 200, 0.01)


def _own_target(tmp_path: Path) -> dict:
    """A lab-free target whose state directory is ``tmp_path/state``, deployed in 2026."""
    path = tmp_path / "target.json"
    target = {"api_url": "http://127.0.0.1:9", "services": {}, "state_dir": str(tmp_path / "state")}
    target["deployment"] = {"stamp": "a" * 64, "deployed_at": "2026-11-30T07:32:59Z"}
    path.write_text(json.dumps(target))
    return {"target_file": str(path)}


def test_sustained_load_and_spike_refuse_a_missing_or_stale_capacity(tmp_path):
    configuration = _own_target(tmp_path)
    with pytest.raises(ActivityFailed, match="state/capacity.json: run capacity-search first"):
        start_sustained_load(configuration=configuration)
    stale = {"method": "search", "orders_per_s": 100, "measured_at": "2020-01-01T00:00:00Z"}
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "capacity.json").write_text(json.dumps(stale))
    for start in (start_sustained_load, start_spike):
        with pytest.raises(ActivityFailed, match="run capacity-search again"):
            start(configuration=configuration)
    with pytest.raises(ActivityFailed, match="capacity_share must be a number from 0"):
        start_spike(capacity_share=-1, configuration=configuration)
    assert not (tmp_path / "state" / "load").exists(), "no load was started"


def test_a_bad_search_is_refused_before_any_load(tmp_path):
    configuration = _own_target(tmp_path)
    with pytest.raises(ActivityFailed, match="precision must be a number from 0.005 to 1"):
        search_capacity(precision=2, configuration=configuration)
    with pytest.raises(ActivityFailed, match="'DashboardViewer' places no orders"):
        search_capacity(user_classes="DashboardViewer=1", configuration=configuration)
    assert not (tmp_path / "state" / "load").exists(), "no load was started"


def test_bad_step_plan_is_refused_before_any_load(tmp_path):
    configuration = _own_target(tmp_path)
    with pytest.raises(ActivityFailed, match="increasing"):
        find_capacity(steps=[20, 10], step_s=10, settle_s=2, configuration=configuration)
    with pytest.raises(ActivityFailed, match="'DashboardWatcher' places no orders"):
        find_capacity(
            steps=[5],
            step_s=10,
            settle_s=2,
            user_classes="DashboardWatcher=1",
            configuration=configuration,
        )
    assert not (tmp_path / "state" / "load").exists(), "no load was started"


@pytest.mark.lab
def test_small_step_test_on_the_real_cafe(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("COFFEE_CHAOS_RUN_DIR", str(tmp_path / "run"))
    saved = tmp_path / "capacity.json"
    record = find_capacity(
        steps=[4, 16],
        step_s=8,
        settle_s=3,
        spawn_rate=20,
        user_classes="RushHourCustomer=1",
        capacity_file=str(saved),
    )
    first, second = record["steps"]
    assert [first["users"], second["users"]] == [4, 16]
    assert first["requests"] > 0 and second["served_per_s"] > first["served_per_s"]
    assert all(row["p99_ms"] is not None for row in record["steps"])
    assert record["orders_per_s"] > 0, capacity.format_table(record)
    assert json.loads((tmp_path / "run" / "capacity.json").read_text())["steps"] == record["steps"]
    assert not saved.exists(), "the ramp leaves the searched capacity alone"
    assert record["against_searched"]["note"] == "no capacity search is saved"


def test_the_ramps_probe_reads_its_record_and_deviates_when_the_first_step_degraded(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("COFFEE_CHAOS_RUN_DIR", raising=False)
    configuration = {**_own_target(tmp_path), "run_dir": str(tmp_path / "run")}
    with pytest.raises(ActivityFailed, match="no step test result in .*run/capacity.json"):
        capacity_was_found(configuration=configuration)
    record = {"orders_per_s": None, "knee_reason": "P99 900 ms over 200 ms", "steps": []}
    record["steps"] = [{**_row(10, 4.4, 4.4, p99=900), "p50_ms": 5, "p95_ms": 800}]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "capacity.json").write_text(json.dumps(record))
    with pytest.raises(ActivityFailed, match=r"the first step \(10 users\) served without"):
        capacity_was_found(configuration=configuration)
    record.update(orders_per_s=4.4)
    (tmp_path / "run" / "capacity.json").write_text(json.dumps(record))
    assert capacity_was_found(configuration=configuration)["orders_per_s"] == 4.4
