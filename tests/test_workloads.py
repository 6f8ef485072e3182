"""The locustfile's customer profiles and its instrumentation.

Locust monkey-patches the interpreter with gevent when imported, so everything
that imports the locustfile runs in a separate ``python -c`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from gameday import locustrun

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"

INTROSPECT = """
import json, locustfile
out = {}
for name, cls in locustfile.PROFILES.items():
    tasks = {}
    for task in cls.tasks:
        tasks[task.__name__] = tasks.get(task.__name__, 0) + 1
    out[name] = {
        "abstract": cls.abstract,
        "weight": cls.weight,
        "wait": sorted(c.cell_contents for c in cls.wait_time.__closure__),
        "tasks": tasks,
    }
print(json.dumps(out))
"""


def _locust_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=WORKLOADS, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=60,
    )


def _profiles(classes: str | None = None) -> dict:
    env = {"COFFEE_USER_CLASSES": classes} if classes else {}
    result = _locust_python(INTROSPECT, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_profiles_follow_the_contract_waits_and_task_weights():
    profiles = _profiles()
    assert profiles["CoffeeConsumer"]["wait"] == [1, 5]
    assert profiles["CoffeeConsumer"]["tasks"] == {
        "any_drink": 10, "cappuccino": 3, "latte": 2, "americano": 1,
    }
    assert profiles["DowntownRegular"]["wait"] == [2, 8]
    assert profiles["CappuccinoLover"]["wait"] == [3, 10]
    assert profiles["RushHourCustomer"]["wait"] == [0.5, 2]
    assert profiles["DashboardViewer"]["tasks"] == {"dashboard": 1}


def test_default_classes_and_weights_come_from_the_default_spec():
    profiles = _profiles()
    running = {name: p["weight"] for name, p in profiles.items() if not p["abstract"]}
    assert running == {"CoffeeConsumer": 10, "RushHourCustomer": 5, "DowntownRegular": 3}


def test_user_classes_env_chooses_classes_and_weights():
    profiles = _profiles("CappuccinoLover=2, DashboardViewer=7")
    running = {name: p["weight"] for name, p in profiles.items() if not p["abstract"]}
    assert running == {"CappuccinoLover": 2, "DashboardViewer": 7}


def test_locustrun_knows_the_same_classes_as_the_locustfile():
    assert tuple(_profiles()) == locustrun.USER_CLASSES


def test_orders_are_priced_in_range_rounded_and_stamped_utc_now():
    result = _locust_python("""
        import json, locustfile
        orders = [locustfile.make_order() for _ in range(2000)]
        orders += [locustfile.make_order("cappuccino", "downtown")]
        print(json.dumps(orders))
    """)
    assert result.returncode == 0, result.stderr
    orders = json.loads(result.stdout)
    ranges = {"cappuccino": (4.50, 6.50), "americano": (3.00, 4.50), "latte": (4.00, 6.00)}
    for order in orders:
        low, high = ranges[order["drink"]]
        assert low <= order["price"] <= high
        assert round(order["price"], 2) == order["price"]
        assert order["store"] in {"uptown", "downtown", "central", "southend"}
        stamp = datetime.fromisoformat(order["timestamp"])
        assert stamp.utcoffset().total_seconds() == 0
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 30
    assert {o["drink"] for o in orders} == set(ranges)
    assert orders[-1]["drink"] == "cappuccino" and orders[-1]["store"] == "downtown"


def test_unknown_class_stops_locust_before_any_load(tmp_path):
    live = tmp_path / "live.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(WORKLOADS / "locustfile.py"), "--headless",
         "-u", "1", "-r", "1", "-t", "5s", "--host", "http://127.0.0.1:9"],
        env={**os.environ, "COFFEE_USER_CLASSES": "CoffeeConsumer=1,Barista=2",
             "COFFEE_LIVE_FILE": str(live)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "unknown user class 'Barista'" in result.stderr
    assert "CoffeeConsumer" in result.stderr  # the message lists the valid names
    assert not live.exists()


def test_bad_weight_is_refused_with_its_name():
    result = _locust_python("import locustfile", {"COFFEE_USER_CLASSES": "CoffeeConsumer=0"})
    assert result.returncode == 2
    assert "weight of 'CoffeeConsumer'" in result.stderr and "at least 1" in result.stderr


def test_histogram_buckets_are_within_half_a_percent():
    result = _locust_python("""
        import json, instrumentation
        values = [0.0, 0.4567, 7.891, 12.34, 99.99, 123.456, 999.9, 4567.8, 61234.5]
        print(json.dumps({str(v): instrumentation.bucket_ms(v) for v in values}))
    """)
    assert result.returncode == 0, result.stderr
    buckets = json.loads(result.stdout)
    assert buckets["123.456"] == "123.0"
    assert buckets["4567.8"] == "4560.0"
    assert buckets["0.0"] == "0.0"
    for value, bucket in buckets.items():
        assert float(bucket) <= float(value)
        if float(value) >= 1:
            assert (float(value) - float(bucket)) / float(value) < 0.01


def test_recorder_writes_one_line_per_second_and_the_acknowledged_orders(tmp_path):
    live, acked = tmp_path / "live.jsonl", tmp_path / "acked.jsonl"
    result = _locust_python(f"""
        import instrumentation, time
        time.time = lambda: 1000.5  # a fixed clock, in this throw-away process only
        r = instrumentation.LiveRecorder({str(live)!r}, {str(acked)!r})
        r.flushed_until = 997
        r.on_request("/api/v1/order", 12.3, 200, False)
        r.on_request("/api/v1/order", 45.6, 503, True)
        r.on_request("/api/dashboard", 1.0, 0, True)
        r.acknowledge({{"id": 7, "drink": "latte", "store": "central", "price": 4.5,
                        "timestamp": "2026-01-01T00:00:00+00:00", "extra": 1}})
        r.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in live.read_text().splitlines()]
    assert [b["t"] for b in lines] == [997, 998, 999, 1000]  # complete seconds, then the last
    assert [b["by_name"] for b in lines[:3]] == [{}, {}, {}]
    assert lines[3]["by_name"]["/api/v1/order"] == {
        "count": 2, "failures": 1, "codes": {"200": 1, "503": 1}, "hist": {"12.3": 1, "45.6": 1},
    }
    assert lines[3]["by_name"]["/api/dashboard"]["codes"] == {"0": 1}
    assert json.loads(acked.read_text()) == {
        "id": 7, "drink": "latte", "store": "central", "price": 4.5,
        "timestamp": "2026-01-01T00:00:00+00:00",
    }
