"""The load experiments end to end in the quick profile against the lab: verdicts and figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_experiments import chaos_quick, completed, outputs


@pytest.mark.lab
@pytest.mark.e2e
def test_baseline_ramp_saves_a_capacity_that_sustained_80_uses(lab, tmp_path):
    saved = tmp_path / "capacity.json"
    ramp_dir, sustained_dir = tmp_path / "ramp", tmp_path / "sustained"
    ramp_dir.mkdir()
    sustained_dir.mkdir()
    runs = completed(
        *chaos_quick("baseline-ramp", ramp_dir, "--var", f"capacity_file:str={saved}"), ramp_dir
    )
    record = runs["capacity-before-latency-degrades"]["output"]
    assert record["orders_per_s"] > 0 and [row["users"] for row in record["steps"]] == [20, 80, 160]
    for row in record["steps"]:
        assert {
            "offered_per_s",
            "served_per_s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "failure_ratio",
        } <= set(row)
    assert json.loads(saved.read_text())["orders_per_s"] == record["orders_per_s"]

    # The verdict is the café's, not the test's: its per-window P99 used to vary by CV
    # 0.36-0.41 (full GC pauses, bursts of customers in step) and may again on a busy
    # machine. What must hold either way: the run goes to its end at 80 % of the saved
    # capacity, and the verdict matches the stability figures.
    code, journal = chaos_quick(
        "sustained-80", sustained_dir, "--var", f"capacity_file:str={saved}"
    )
    assert journal["status"] == "completed", f"see {sustained_dir}/chaostoolkit.log"
    runs = outputs(journal)
    started = runs["start-sustained-load"]["output"]
    assert started["orders_per_s"] == round(0.8 * record["orders_per_s"], 2)
    stability = runs["per-window-p99-is-stable"]
    if stability["status"] == "succeeded":
        assert code == 0 and not journal["deviated"]
        assert len(stability["output"]["windows"]) == 4 and stability["output"]["p99_cv"] <= 0.25
    else:
        assert code != 0 and journal["deviated"]
        assert "coefficient of variation" in "".join(stability["exception"])


@pytest.mark.lab
@pytest.mark.e2e
def test_sustained_80_refuses_without_a_capacity(lab, tmp_path):
    code, journal = chaos_quick(
        "sustained-80", tmp_path, "--var", f"capacity_file:str={tmp_path}/none.json"
    )
    assert code != 0 and journal["status"] == "failed"
    assert not journal["run"], "nothing was started"
    refusal = journal["steady_states"]["before"]["probes"][0]
    assert "run baseline-ramp first" in "".join(refusal["exception"])


@pytest.mark.lab
@pytest.mark.e2e
def test_spike_recovers_and_measures_queueing_and_the_pool(lab, tmp_path):
    runs = completed(*chaos_quick("spike", tmp_path), tmp_path)
    recovery = runs["p99-back-under-threshold-after-the-drop"]["output"]
    assert 0 <= recovery["recovery_s"] <= 30 and recovery["p99_ms"] <= 200
    phases = runs["offered-vs-served-by-phase"]["output"]["phases"]
    assert [p["phase"] for p in phases] == ["before", "ramp-up", "peak", "ramp-down", "after"]
    peak = phases[2]
    assert peak["users"] == 200 and peak["served_per_s"] > phases[0]["served_per_s"]
    pool = runs["db-pool-waiting-until-the-drop"]["output"]
    assert pool["available"] and pool["samples"] > 10


@pytest.mark.lab
@pytest.mark.e2e
def test_websocket_limits_and_reconnection(lab, tmp_path):
    runs = completed(*chaos_quick("websocket-limits", tmp_path), tmp_path)
    steps = runs["each-step-connects-and-pushes-in-time"]["output"]["steps"]
    assert [s["websockets"] for s in steps] == [20, 50, 100]
    assert all(s["api_rss_mib"] > 0 and s["pushes"] >= s["websockets"] for s in steps)
    assert sum(s["connects"] for s in steps) == 100
    back = runs["every-watcher-reconnects"]["output"]
    assert back["reconnected"] >= 100 and back["all_back_s"] <= 30


@pytest.mark.lab
@pytest.mark.e2e
def test_mixed_workload_compares_the_mixes(lab, tmp_path):
    runs = completed(*chaos_quick("mixed-workload", tmp_path), tmp_path)
    side_by_side = runs["every-mix-within-limits-side-by-side"]["output"]
    assert len(side_by_side) == 3
    rush = side_by_side["CoffeeConsumer=3,RushHourCustomer=10,DowntownRegular=3"]
    downtown = side_by_side["CoffeeConsumer=3,RushHourCustomer=2,DowntownRegular=10"]
    assert rush["offered_per_s"] > downtown["offered_per_s"]
    assert all(figures["requests"] > 0 for figures in side_by_side.values())


@pytest.mark.lab
@pytest.mark.e2e
def test_soak_quick_reports_no_leak(lab, tmp_path):
    runs = completed(*chaos_quick("soak", tmp_path), tmp_path)
    judged = runs["no-leak-over-the-soak"]["output"]
    assert judged["samples"] >= 8 and not judged["breaches"]
    assert {
        "api_rss_bytes",
        "aggregator_rss_bytes",
        "postgres_connections",
        "orders_total_bytes",
        "prometheus_head_series",
    } <= set(judged["figures"])
    soak_dir = Path(judged_dir(tmp_path)) / "soak"
    assert (soak_dir / "report.md").read_text().startswith("# Soak report")
    assert json.loads((soak_dir / "checkpoint.json").read_text())["samples"] >= 3


def judged_dir(workdir: Path) -> str:
    return json.loads((workdir / "journal.json").read_text())["coffee_chaos"]["run_dir"]
