"""The locustfile's customer profiles and its instrumentation.

Locust monkey-patches the interpreter with gevent when imported, so everything
that imports the locustfile runs in a separate ``python -c`` process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from target_files import free_port, write_target

from gameday import livestats, loadplan, locustrun, services
from gameday.target import load_target
from workloads import env

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
        cwd=WORKLOADS,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
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
        "any_drink": 10,
        "cappuccino": 3,
        "latte": 2,
        "americano": 1,
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
    assert tuple(_profiles()) == loadplan.USER_CLASSES


def test_the_variables_between_the_engine_and_locust_are_named_only_in_workloads_env():
    # the engine's own (the load mark is set in Locust's environment but read by the engine)
    engine_only = {
        "COFFEE_CHAOS_TARGET",
        "COFFEE_CHAOS_RUN_DIR",
        "COFFEE_CHAOS_REGISTRY",
        "COFFEE_CHAOS_LOAD_MARK",
        "COFFEE_CHAOS_SESSION_LOAD_LEDGER",
    }
    sources = [*WORKLOADS.glob("*.py"), *(WORKLOADS.parent / "gameday").glob("*.py")]
    for path in sources:
        if path != WORKLOADS / "env.py":
            named = set(re.findall(r"[\"'](COFFEE_[A-Z_]+)[\"']", path.read_text())) - engine_only
            assert not named, f"{path.name} spells {sorted(named)}: use workloads/env.py"
    assert all(name.startswith("COFFEE_") for name in env.VARIABLES)
    assert env.DEFAULT_USER_CLASSES == loadplan.DEFAULT_USER_CLASSES


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
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(WORKLOADS / "locustfile.py"),
            "--headless",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "5s",
            "--host",
            "http://127.0.0.1:9",
        ],
        env={
            **os.environ,
            "COFFEE_USER_CLASSES": "CoffeeConsumer=1,Barista=2",
            "COFFEE_LIVE_FILE": str(live),
        },
        capture_output=True,
        text=True,
        timeout=60,
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


def test_memoised_buckets_are_those_of_the_unmemoised_formula():
    """bucket_ms caches its names: the same names as computing each one, at every decade edge."""
    result = _locust_python("""
        import instrumentation, random
        def formula(ms):
            micros = max(0, int(ms * 1000))
            scale = 10 ** max(0, len(str(micros)) - 3)
            return repr(micros // scale * scale / 1000)
        edges = [10**k + d for k in range(-4, 9) for d in (-0.0011, -1e-9, 0, 1e-9, 0.0011)]
        values = edges + [-1.0, 0.0, 0.9995, 999.9999] + [random.uniform(0, 1e5) for _ in range(50000)]
        for _ in range(2):  # computed, then from the cache
            wrong = [v for v in values if instrumentation.bucket_ms(v) != formula(v)]
            assert not wrong, wrong[:5]
        print(len(instrumentation._bucket_names))
    """)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 7000  # one name a bucket (1000 under 1 ms, then 900 a decade)


def test_the_sum_of_a_second_is_rounded_once_when_written(tmp_path):
    live = tmp_path / "live.jsonl"
    result = _locust_python(f"""
        import instrumentation, time
        time.time = lambda: 1000.5  # a fixed clock, in this throw-away process only
        r = instrumentation.LiveRecorder({str(live)!r}, None)
        r.flushed_until = 1000
        for _ in range(3):
            r.on_request("/livez", 1.2344, 200, False, "GET")
        r.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(line) for line in live.read_text().splitlines()]
    assert line["by_name"]["/livez"]["sum_ms"] == 3.703  # 3.7032; rounding each add gave 3.702


def test_recorder_writes_one_line_per_second_and_the_acknowledged_orders(tmp_path):
    live, acked = tmp_path / "live.jsonl", tmp_path / "acked.jsonl"
    result = _locust_python(f"""
        import instrumentation, time
        time.time = lambda: 1000.5  # a fixed clock, in this throw-away process only
        r = instrumentation.LiveRecorder({str(live)!r}, {str(acked)!r})
        r.flushed_until = 997
        r.on_request("/api/v1/order", 12.3, 200, False, "POST")
        r.on_request("/api/v1/order", 45.6, 503, True, "POST")
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
        "method": "POST",
        "sum_ms": 57.9,
        "count": 2,
        "failures": 1,
        "codes": {"200": 1, "503": 1},
        "hist": {"12.3": 1, "45.6": 1},
        "started": 0,
    }
    assert lines[3]["by_name"]["/api/dashboard"]["codes"] == {"0": 1}
    assert json.loads(acked.read_text()) == {
        "id": 7,
        "drink": "latte",
        "store": "central",
        "price": 4.5,
        "timestamp": "2026-01-01T00:00:00+00:00",
    }


WATCHER_SCRIPT = """
import json, time, locustfile, watcher
from locust.env import Environment

events = []
env = Environment(user_classes=[watcher.DashboardWatcher])
env.events.request.add_listener(lambda **kw: events.append(
    [kw["name"], round(kw["response_time"]), kw["exception"] is not None]))

class FakeSocket:
    # (receive time, server_timestamp) pairs, then the server goes away
    def __init__(self, pushes):
        self.pushes = list(pushes)
    def settimeout(self, _):
        pass
    def recv(self):
        if not self.pushes:
            raise ConnectionResetError("gone")
        now, stamp = self.pushes.pop(0)
        clock[0] = now
        return json.dumps({"server_timestamp": stamp}) if stamp else "{}"
    def close(self, timeout=None):
        pass

clock = [1000.0]
time.time = lambda: clock[0]
sockets = [FakeSocket([
    (1000.25, "1970-01-01T00:16:40+00:00"),      # on connect: lag 250 ms
    (1003.0, "1970-01-01T00:16:42.990+00:00"),   # first periodic push: lag 10 ms
    (1013.5, "1970-01-01T00:16:53.480+00:00"),   # interval 10.5 s: jitter 500 ms
    (1023.2, None),                              # no server_timestamp: a failure
]), FakeSocket([])]
connects = []
watcher.websocket.create_connection = lambda url, **options: (
    connects.append(options), sockets.pop(0))[1]
watcher.backoff_s = lambda attempt: 0
user = watcher.DashboardWatcher(env)
user.host = "http://127.0.0.1:8005"
user.on_start()
for _ in range(7):
    user.watch()
print(json.dumps({"url": user.url, "events": events, "connects": connects}))
"""


def test_requests_still_open_at_the_end_of_a_second_are_recorded_with_their_age(tmp_path):
    live = tmp_path / "live.jsonl"
    result = _locust_python(f"""
        import instrumentation, time
        clock = [1000.2]
        time.time = lambda: clock[0]  # a fixed clock, in this throw-away process only
        r = instrumentation.LiveRecorder({str(live)!r}, None)
        r.flushed_until = 1000
        hung = r.begin("/api/v1/order")          # started at 1000.2, never answered
        quick = r.begin("/api/v1/order")
        clock[0] = 1000.4
        r.on_request("/api/v1/order", 200.0, 200, False, "POST")
        r.end(quick)
        clock[0] = 1001.01                       # just after the second ended
        r.snapshot()
        clock[0] = 1003.01
        r.snapshot()                             # second 1002: still open, older
        r.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    lines = {line["t"]: line["by_name"] for line in map(json.loads, live.read_text().splitlines())}
    first = lines[1000]["/api/v1/order"]
    assert first["started"] == 2 and first["count"] == 1
    assert first["open"] == 1 and first["oldest_open_ms"] == pytest.approx(810, abs=1)
    assert lines[1001] == {}  # nothing recorded while no snapshot was taken
    later = lines[1002]["/api/v1/order"]
    assert later["open"] == 1 and later["started"] == 0
    assert later["oldest_open_ms"] == pytest.approx(2810, abs=1)
    (bucket,) = later["open_hist"]
    assert float(bucket) == pytest.approx(2810, rel=0.01)


def test_a_late_snapshot_from_a_worker_does_not_count_twice(tmp_path):
    live = tmp_path / "live.jsonl"
    result = _locust_python(f"""
        import instrumentation, time
        time.time = lambda: 3000.5
        master = instrumentation.LiveRecorder({str(live)!r}, None)
        master.flushed_until = 3000
        stats = {{"method": "GET", "count": 1, "failures": 0, "codes": {{"200": 1}},
                  "hist": {{"1.0": 1}}, "sum_ms": 1.0, "started": 2, "open": 1,
                  "open_hist": {{"900.0": 1}}, "oldest_open_ms": 900.0}}
        master.take_over({{"seconds": [[2999, {{"/x": stats}}], [3000, {{"/x": stats}}]],
                           "acked": []}})
        master.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(line) for line in live.read_text().splitlines()]
    merged = line["by_name"]["/x"]
    assert merged["count"] == 2 and merged["started"] == 4  # both seconds' requests count
    assert merged["open"] == 1 and merged["open_hist"] == {"900.0": 1}  # one snapshot only


def test_dashboard_watcher_reports_lag_jitter_bad_pushes_and_reconnects():
    result = _locust_python(WATCHER_SCRIPT, {"COFFEE_DASHBOARD_INTERVAL_S": "10"})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["url"] == "ws://127.0.0.1:8005/ws/dashboard"
    names = [name for name, _, _ in out["events"]]
    assert names == [
        "WS connect",
        "/ws/dashboard push",
        "/ws/dashboard push",
        "/ws/dashboard push",
        "/ws/dashboard jitter",
        "/ws/dashboard push",
        "WS connect",
        "WS reconnect",
    ]
    pushes = [(ms, failed) for name, ms, failed in out["events"] if name.endswith("push")]
    assert pushes == [(250, False), (10, False), (20, False), (0, True)]
    assert [ms for name, ms, _ in out["events"] if name.endswith("jitter")] == [500]
    # websocket-client's pure-Python UTF-8 check made a thousand watchers read late.
    assert out["connects"] == [{"timeout": 10.0, "skip_utf8_validation": True}] * 2


def test_dashboard_watcher_backoff_doubles_up_to_ten_seconds():
    result = _locust_python("""
        import json, watcher
        print(json.dumps([watcher.backoff_s(n) for n in (1, 2, 3, 6, 10)]))
    """)
    assert result.returncode == 0, result.stderr
    waits = json.loads(result.stdout)
    for wait, base in zip(waits, (0.5, 1, 2, 10, 10), strict=True):
        assert base <= wait <= base * 1.2


def test_failure_watch_stops_only_after_the_ratio_held_long_enough():
    from workloads.selfstop import FailureWatch

    def second(count, failures, codes):
        return {"/api/v1/order": {"count": count, "failures": failures, "codes": codes}}

    watch = FailureWatch(0.5, 3)
    assert watch.feed(100, second(10, 9, {"0": 9, "200": 1})) is None
    assert watch.feed(101, {}) is None  # nothing completed: the streak goes on
    assert watch.feed(102, second(10, 2, {"200": 8, "503": 2})) is None  # healthy: reset
    assert watch.feed(103, second(10, 6, {"503": 6, "200": 4})) is None
    assert watch.feed(104, second(10, 10, {"0": 10})) is None
    reason = watch.feed(105, second(5, 5, {"0": 5}))
    assert reason.startswith("self-stop: the failure ratio stayed over 0.5 for 3 s")
    assert "21 of 25 requests failed" in reason
    assert "{'0': 15, '200': 4, '503': 6}" in reason


def test_workers_hand_their_seconds_and_orders_to_the_master(tmp_path):
    live, acked = tmp_path / "live.jsonl", tmp_path / "acked.jsonl"
    result = _locust_python(f"""
        import json, instrumentation, time
        time.time = lambda: 2000.5  # a fixed clock, in this throw-away process only
        workers = [instrumentation.LiveRecorder(None, None) for _ in range(2)]
        for index, worker in enumerate(workers):
            worker.on_request("/api/v1/order", 10.0 * (index + 1), 200, False, "POST")
            worker.acknowledge({{"id": index + 1}})
        master = instrumentation.LiveRecorder({str(live)!r}, {str(acked)!r})
        master.flushed_until = 2000
        for worker in workers:
            master.take_over(json.loads(json.dumps(worker.hand_over())))  # as sent
        assert workers[0].hand_over() == {{"seconds": [], "acked": [], "generator": []}}
        late = {{"seconds": [[1990, {{"/api/v1/order": {{"count": 1, "failures": 1,
                 "codes": {{"0": 1}}, "hist": {{"5.0": 1}}, "sum_ms": 5.0}}}}]], "acked": []}}
        master.take_over(late)  # a second already written counts in the next one
        master.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(line) for line in live.read_text().splitlines()]
    assert line["t"] == 2000
    assert line["by_name"]["/api/v1/order"] == {
        "method": "POST",
        "count": 3,
        "failures": 1,
        "sum_ms": 35.0,
        "codes": {"200": 2, "0": 1},
        "hist": {"10.0": 1, "20.0": 1, "5.0": 1},
        "started": 0,
    }
    assert [json.loads(o)["id"] for o in acked.read_text().splitlines()] == [1, 2]


@pytest.mark.lab
def test_dashboard_watchers_reconnect_after_the_api_restarts(lab, tmp_path):
    """Real sockets on the café: every watcher gets pushes, and reconnects after a restart."""
    target, port = load_target(write_target(tmp_path)), free_port()  # its own ledger
    run = locustrun.start(
        tmp_path / "run",
        target.api_url,
        3,
        3,
        60,
        {"DashboardWatcher": 1},
        target,
        metrics_port=port,
    )
    try:
        live = run["live_file"]
        _wait_for(lambda: livestats.merge(livestats.read_seconds(live), "WS connect")["count"] >= 3)
        services.restart("api", lab)
        _wait_for(
            lambda: livestats.merge(livestats.read_seconds(live), "WS reconnect")["count"] >= 3
        )
    finally:
        locustrun.stop(target)
    seconds = livestats.read_seconds(live)
    pushes = livestats.merge(seconds, "/ws/dashboard push")
    assert (
        pushes["count"] >= 3
        and pushes["failures"] == 0
        and pushes["codes"] == {"101": pushes["count"]}
    )
    assert (
        0 <= livestats.percentile(pushes["hist"], 1.0) < 2000
    )  # lag: built just before it is sent
    reconnects = livestats.merge(seconds, "WS reconnect")
    assert reconnects["count"] == 3 and reconnects["failures"] == 0
    assert livestats.percentile(reconnects["hist"], 1.0) < 30000


def _wait_for(condition, timeout_s: float = 45) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


OPEN_MODEL_ARRIVALS = """
import json, time, gevent, locustfile
from locust.env import Environment
arrivals = {}
def order(self, drink=None, store=None):
    arrivals.setdefault(id(self), []).append(time.monotonic())
locustfile.Customer.order = order
env = Environment(user_classes=[locustfile.CoffeeConsumer], host="http://127.0.0.1:9")
runner = env.create_local_runner()
start = time.monotonic()
runner.start(40, spawn_rate=40)
gevent.sleep(6.5)
runner.quit()
print(json.dumps([[t - start for t in times] for times in arrivals.values()]))
"""


def test_open_model_users_keep_their_own_phase_over_the_whole_run():
    # Locust spawns a second's users at once; at a constant pace (0.5 orders/s each) they
    # would arrive together every 2 s for the whole run unless each keeps a phase of its own.
    result = _locust_python(
        OPEN_MODEL_ARRIVALS,
        {"COFFEE_USER_CLASSES": "CoffeeConsumer=1", "COFFEE_TASKS_PER_USER_S": "0.5"},
    )
    assert result.returncode == 0, result.stderr
    users = json.loads(result.stdout)
    assert len(users) == 40 and all(len(times) >= 3 for times in users), users
    for times in users:
        # the pace is kept (the median gap); one late wake-up on a busy machine is not a drift
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert abs(statistics.median(gaps) - 2) < 0.1, f"not paced every 2 s: {times}"
        assert all(abs(gap - 2) < 0.5 for gap in gaps), f"not paced every 2 s: {times}"
    arrivals = sorted(t for times in users for t in times)
    busiest = max(sum(1 for t in arrivals if s <= t < s + 0.2) for s in arrivals)
    # In step, all 40 arrive at once. With random phases 4 fall in a 0.2 s window on average,
    # and the busiest window holds 13 or more in 0.7 % of runs (CI saw 13), 17 or more in
    # under 1 in 20,000 (simulated): the bound sits there.
    assert busiest <= 16, f"{busiest} of 40 customers arrived within 0.2 s: {arrivals}"


def _cafe_order_seconds(api_url: str) -> tuple[float, float]:
    """The café's own histogram of POST /api/v1/order: (sum of seconds, count)."""
    text = requests.get(f"{api_url}/metrics", timeout=5).text
    found = {"sum": 0.0, "count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("endpoint") == "/api/v1/order" and labels.get("method") == "POST":
                kind = sample.name.removeprefix("http_request_duration_seconds_")
                if kind in found and sample.name.startswith("http_request_duration_seconds_"):
                    found[kind] = sample.value
    return found["sum"], found["count"]


@pytest.mark.lab
def test_under_light_open_load_locust_sees_the_cafes_own_answer_times(lab, tmp_path):
    """110 customers spawned in one go at 55 orders/s and paced in step (the locustfile of
    ae5c51e) arrived every 2 s in a burst of 110 that queued in the café: Locust's P50
    30.4 ms where the café's handlers took 16.2 ms on average. Each on its own phase:
    2.35 vs 1.50 ms, the café's figure plus the trip. Both figures come from the same
    run, so a busier machine moves them together."""
    target, port = load_target(write_target(tmp_path)), free_port()  # its own ledger
    before = _cafe_order_seconds(target.api_url)
    run = locustrun.start(
        tmp_path / "run",
        target.api_url,
        110,
        110,
        30,
        {"CoffeeConsumer": 1},
        target,
        shape="sustained",
        shape_params={"orders_per_s": 55, "user_rate_s": 0.5, "spawn_rate": 110, "duration_s": 25},
        metrics_port=port,
    )
    try:
        time.sleep(20)
    finally:
        locustrun.stop(target)
    after = _cafe_order_seconds(target.api_url)
    orders = livestats.merge(livestats.read_seconds(run["live_file"]), "/api/v1/order")
    assert orders["count"] >= 500 and orders["failures"] == 0, orders
    cafe_mean_ms = (after[0] - before[0]) / (after[1] - before[1]) * 1000
    locust_p50_ms = livestats.percentile(orders["hist"], 0.5)
    print(f"orders: Locust P50 {locust_p50_ms:.2f} ms, the café's mean {cafe_mean_ms:.2f} ms")
    assert locust_p50_ms <= cafe_mean_ms + 3, (
        f"Locust's P50 {locust_p50_ms:.1f} ms, the café's own mean {cafe_mean_ms:.1f} ms: "
        "the customers' requests wait somewhere the café does not time (arriving in bursts?)"
    )


def test_a_target_that_never_answers_shows_open_requests_then_timeouts(tmp_path):
    """Locust records a request when it ends: against a server that accepts and never
    answers, the live file must show the requests open with their ages, then each as a
    failure (status 0) once the run's request timeout passes."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_hold() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    threading.Thread(target=accept_and_hold, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    target = load_target(write_target(tmp_path, api_url=url))
    try:
        run = locustrun.start(
            tmp_path / "run",
            url,
            4,
            4,
            7,
            {"RushHourCustomer": 1},
            target,
            metrics_port=free_port(),
            request_timeout_s=3,
        )
        _wait_for(lambda: (livestats.window(run["live_file"], 1)["p99_ms"] or 0) >= 1000, 10)
        hanging = livestats.window(run["live_file"], 1, "/api/v1/order")
        _wait_for(lambda: livestats.window(run["live_file"], 3)["codes"].get("0"), 10)
        timed_out = livestats.window(run["live_file"], 3, "/api/v1/order")
    finally:
        if _running(target):
            locustrun.stop(target)
        stop.set()
        server.close()
        for connection in held:
            connection.close()
    assert hanging["count"] == 0 and hanging["in_flight"] == 4
    assert hanging["oldest_in_flight_ms"] >= 1000 and hanging["p99_ms"] >= 1000
    assert timed_out["failures"] >= 1 and set(timed_out["codes"]) == {"0"}
    assert 2900 <= timed_out["p50_ms"] <= 4000, "a timeout is recorded at the timeout"


def _running(target) -> bool:
    try:
        locustrun.current(target)
    except locustrun.NotRunning:
        return False
    return True
