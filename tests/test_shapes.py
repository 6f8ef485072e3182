"""workloads/shapes: each shape's tick() at fixed run times, and its parameter checks.

The shapes are pure Python, so the chaos process checks them before any load;
the Locust side (workloads/shapefile.py) is exercised in a separate process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workloads import shapes

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"


def test_stairs_default_is_10_100_500_over_ten_minutes():
    shape = shapes.build("stairs")
    assert shape.duration_s == 600
    assert shape.tick(0) == (10, 10)
    assert shape.tick(199.9) == (10, 10)
    assert shape.tick(200) == (100, 10)
    assert shape.tick(450) == (500, 10)
    assert shape.tick(600) is None
    assert shape.max_users == 500


def test_stairs_with_configured_steps():
    shape = shapes.build("stairs", {"steps": [5, 20], "step_duration_s": 15, "spawn_rate": 4})
    assert [shape.tick(t) for t in (0, 14, 15, 29, 30)] == [(5, 4), (5, 4), (20, 4), (20, 4), None]


def test_spike_default_is_50_to_500_in_30_s_hold_2_min_back_to_50():
    shape = shapes.build("spike")
    rate = (500 - 50) / 30  # the ramp lasts ramp_s
    assert shape.tick(0) == (50, rate)
    assert shape.tick(59) == (50, rate)
    assert shape.tick(60) == (500, rate)  # the ramp starts after base_s
    assert shape.tick(60 + 30 + 119) == (500, rate)  # still held
    assert shape.tick(60 + 30 + 120) == (50, rate)  # back to base
    assert shape.tick(shape.duration_s - 0.1) == (50, rate)
    assert shape.tick(shape.duration_s) is None
    assert shape.duration_s == 60 + 30 + 120 + 120


def test_spike_with_an_explicit_spawn_rate():
    shape = shapes.build(
        "spike",
        {
            "base_users": 2,
            "peak_users": 8,
            "base_s": 5,
            "ramp_s": 3,
            "hold_s": 4,
            "after_s": 6,
            "spawn_rate": 100,
        },
    )
    assert [shape.tick(t) for t in (4, 5, 11.9, 12, 17.9, 18)] == [
        (2, 100),
        (8, 100),
        (8, 100),
        (2, 100),
        (2, 100),
        None,
    ]


def test_sustained_by_users_keeps_the_classes_waits():
    shape = shapes.build("sustained", {"users": 80, "duration_s": 120})
    assert shape.tick(0) == (80, 10) and shape.tick(119) == (80, 10) and shape.tick(120) is None
    assert shape.tasks_per_user_s is None


def test_sustained_by_orders_per_s_is_an_open_model():
    shape = shapes.build("sustained", {"orders_per_s": 30, "duration_s": 60})
    assert shape.tick(0) == (60, 10)  # 30/s at 0.5 per user: 60 users
    assert shape.tasks_per_user_s == pytest.approx(0.5)
    fixed = shapes.build("sustained", {"orders_per_s": 30, "users": 20, "duration_s": 60})
    assert fixed.tick(10) == (20, 10) and fixed.tasks_per_user_s == pytest.approx(1.5)


def test_search_runs_the_rate_the_control_file_asks_for(tmp_path):
    control = tmp_path / "rate.json"
    shape = shapes.build(
        "search",
        {"control_file": str(control), "user_rate_s": 2, "max_orders_per_s": 100, "duration_s": 60},
    )
    assert shape.tasks_per_user_s == 2 and shape.max_users == 50
    assert shape.tick(0) == (0, 200)  # nothing asked yet
    control.write_text('{"orders_per_s": 41}')
    assert shape.tick(1) == (20, 200)  # 20 users paced at 2 orders/s each: 40 offered
    control.write_text('{"orders_per_s": 4')  # half-written: the last count holds
    assert shape.tick(2) == (20, 200)
    control.write_text('{"orders_per_s": 1000}')
    assert shape.tick(3) == (50, 200)  # bounded by max_orders_per_s
    control.write_text('{"orders_per_s": 0.4}')
    assert shape.tick(4) == (1, 200)  # some load: at least one user
    assert shape.tick(60) is None
    control.write_text('{"stop": true}')
    assert shape.tick(5) is None
    assert shapes.users_for(0, 2) == 0 and shapes.users_for(101, 2) == 50


def test_soak_default_is_100_users_for_two_hours():
    shape = shapes.build("soak")
    assert shape.tick(0) == (100, 10)
    assert shape.tick(2 * 3600 - 1) == (100, 10)
    assert shape.tick(2 * 3600) is None
    assert shapes.build("soak", {"duration_s": 4 * 3600}).tick(3 * 3600) == (100, 10)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("stairs", {"steps": [10, -5]}, "stairs shape: steps[1] must be a whole number of users"),
        ("stairs", {"steps": []}, "steps must be a non-empty list"),
        ("stairs", {"step_duration_s": 0}, "step_duration_s must be a number of seconds from 1"),
        (
            "spike",
            {"base_users": 500, "peak_users": 50},
            "peak_users (50) must be above base_users",
        ),
        ("spike", {"peak_users": 50}, "peak_users (50) must be above base_users (50)"),
        ("spike", {"ramp_s": -1}, "ramp_s must be a number of seconds"),
        ("spike", {"spawn_rate": 0}, "spawn_rate must be a positive number"),
        ("sustained", {"duration_s": 60}, "give users, or orders_per_s"),
        ("sustained", {"users": 0, "duration_s": 60}, "users must be a whole number of users"),
        ("sustained", {"orders_per_s": -3}, "orders_per_s must be a positive number"),
        ("sustained", {"orders_per_s": 10000}, "needs more than 5000 users"),
        ("soak", {"duration_s": 0}, "soak shape: duration_s must be a number of seconds"),
        ("soak", {"users": 2.5}, "users must be a whole number"),
        (
            "stairs",
            {"step_s": 5},
            "unknown parameter(s) 'step_s' for the stairs shape: it takes "
            "steps, step_duration_s, spawn_rate",
        ),
        (
            "ramp",
            {},
            "unknown load shape 'ramp': choose among stairs, spike, sustained, soak, search",
        ),
        ("search", {}, "search shape: control_file must be an absolute path, got ''"),
        ("search", {"control_file": "/r", "user_rate_s": 0}, "user_rate_s must be a positive"),
        (
            "search",
            {"control_file": "/r", "max_orders_per_s": 20000},
            "20000 orders/s at 2.0 per user needs more than 5000 users",
        ),
    ],
)
def test_bad_parameters_are_refused_with_their_name(name, params, message):
    with pytest.raises(shapes.ShapeError) as exc:
        shapes.build(name, params)
    assert message in str(exc.value)


def test_locust_shape_ticks_with_locust_run_time():
    """The LoadTestShape Locust loads delegates to the configured shape at its run time."""
    code = textwrap.dedent("""
        import json, shapefile
        shape = shapefile.ConfiguredShape()
        ticks = []
        for t in (0, 4, 5, 10):
            shape.get_run_time = lambda t=t: t
            ticks.append(shape.tick())
        print(json.dumps(ticks))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=WORKLOADS,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "COFFEE_SHAPE": "stairs",
            "COFFEE_SHAPE_PARAMS": json.dumps({"steps": [1, 3], "step_duration_s": 5}),
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[1, 10], [1, 10], [3, 10], None]


def test_locust_refuses_a_bad_shape_before_any_load(tmp_path):
    live = tmp_path / "live.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            f"{WORKLOADS / 'locustfile.py'},{WORKLOADS / 'shapefile.py'}",
            "--headless",
            "-t",
            "5s",
            "--host",
            "http://127.0.0.1:9",
        ],
        env={
            **os.environ,
            "COFFEE_SHAPE": "spike",
            "COFFEE_LIVE_FILE": str(live),
            "COFFEE_SHAPE_PARAMS": json.dumps({"base_users": 100, "peak_users": 10}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "peak_users (10) must be above base_users (100)" in result.stderr
    assert not live.exists()


def test_the_chaos_process_checks_shapes_without_importing_locust():
    code = (
        "import sys; from gameday import loadplan, locustrun; "
        "plan = loadplan.check_shape('spike', {'base_users': 5, 'peak_users': 50, 'ramp_s': 5, "
        "'hold_s': 5, 'after_s': 5}, 600); "
        "assert not {'locust', 'gevent'} & set(sys.modules), sorted(sys.modules); "
        "print(plan.max_users)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "50"


def test_a_bad_shape_is_a_load_error_naming_the_parameter():
    from gameday import loadplan
    from gameday.errors import LoadError

    with pytest.raises(LoadError) as exc:
        loadplan.check_shape("spike", {"base_users": 50, "peak_users": 10}, 600)
    assert "spike shape: peak_users (10) must be above base_users (50)" in str(exc.value)
