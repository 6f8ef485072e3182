"""The capacity search's load with real Locust against the real café: a generator that is the
limit gets more local workers (Locust restarted with ``--processes``), and once none are left
the search says "limited by the load generator" and saves no capacity."""

from __future__ import annotations

import json

import pytest

from actions.capacity import search_capacity
from gameday.capacityfile import format_record


@pytest.mark.lab
def test_a_generator_bound_search_adds_workers_then_reports_the_generator(
    lab, tmp_path, monkeypatch
):
    """A CPU bound of 1 % of a core makes any Locust process the limit, so the search must
    restart Locust with 2 workers, measure again, then stop without a capacity."""
    run_dir = tmp_path / "run"
    monkeypatch.setenv("COFFEE_CHAOS_RUN_DIR", str(run_dir))
    saved = tmp_path / "capacity.json"
    record = search_capacity(
        start_rate=100,
        step_s=6,
        settle_s=2,
        min_requests=50,
        min_rate=2,
        max_rate=400,
        max_workers=2,
        cpu_bound=0.01,
        user_classes="RushHourCustomer=1",
        load_limit_s=120,
        capacity_file=str(saved),
    )
    table = format_record(record)
    assert record["limited_by"] == "load generator", table
    assert record["orders_per_s"] is None, table
    assert record["summary"].startswith("Limited by the load generator at "), table
    assert "not the target's capacity" in record["summary"], table
    assert [row["verdict"] for row in record["steps"]] == ["generator", "generator"], table
    assert [row["generator"]["workers"] for row in record["steps"]] == [0, 2], table
    assert record["steps"][1]["generator"]["processes"] == 3, "a master and 2 workers"
    assert all(row["generator"]["cpu_cores_max"] >= 0.01 for row in record["steps"]), table
    assert all(row["served_per_s"] > 0 for row in record["steps"]), table
    assert (run_dir / "workers-2" / "locust" / "live.jsonl").exists()
    assert not saved.exists(), "a generator's limit is never saved as the café's capacity"
    assert json.loads((run_dir / "capacity.json").read_text())["limited_by"] == "load generator"
