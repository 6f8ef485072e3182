"""The load generator's figures: its loop lag and missed paces measured inside Locust
(workloads/instrumentation.py, the locustfile's paced users), the CPU of its process group
(gameday.generator, psutil), and when the generator, not the target, is the limit.

Locust monkey-patches the interpreter with gevent when imported, so the Locust side runs in a
separate ``python -c`` process (as in tests/test_workloads.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from test_workloads import _locust_python

from gameday import generator

SPIN = "import time\nend = time.time() + {s}\nwhile time.time() < end: pass\n"


def test_a_busy_process_group_shows_its_cores_and_an_idle_one_none():
    busy = subprocess.Popen([sys.executable, "-c", SPIN.format(s=3)], start_new_session=True)
    nap = [sys.executable, "-c", "import time; time.sleep(3)"]
    idle = subprocess.Popen(nap, start_new_session=True)
    try:
        time.sleep(0.5)
        before = {pid: generator.sample(pid) for pid in (busy.pid, idle.pid)}
        time.sleep(1.5)
        after = {pid: generator.sample(pid) for pid in (busy.pid, idle.pid)}
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()
    seconds = [{"t": 1, "loop_lag_ms": lag, "pace_missed": 1} for lag in range(1, 11)]
    spinning = generator.figures(before[busy.pid], after[busy.pid], seconds, workers=0)
    resting = generator.figures(before[idle.pid], after[idle.pid], [], workers=2)
    # a shared machine gives the spinner what it can: compare the two, measured together
    assert spinning["processes"] == resting["processes"] == 1
    assert spinning["cpu_cores_max"] > 20 * max(resting["cpu_cores_max"], 0.005), (
        spinning,
        resting,
    )
    assert spinning["cpu_cores_max"] <= spinning["machine_busy_cores"] * 1.05
    assert spinning["loop_lag_ms_p90"] == 9 and spinning["loop_lag_ms_max"] == 10
    assert spinning["pace_missed"] == 10 and spinning["cpus"] == os.cpu_count()
    assert resting["loop_lag_ms_p90"] is None and resting["workers"] == 2


def _row(cpu=0.3, lag=2.0, sent=100.0, p99=20.0):
    return {
        "offered_per_s": 100.0,
        "sent_per_s": sent,
        "p99_ms": p99,
        "generator": {"cpu_cores_max": cpu, "loop_lag_ms_p90": lag, "pace_missed": 7},
    }


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (_row(), None),
        (_row(cpu=0.95), "a Locust process used 0.95 of a core (bound 0.9)"),
        (_row(lag=80.0), "event loop woke 80.0 ms late (P90 of the step's seconds, bound 50"),
        (_row(sent=80.0), "the users sent 80.0 orders/s of the 100.0 offered (7 tasks missed"),
        (_row(sent=80.0, p99=900.0), None),  # the target was slow: the users waited for it
        (_row(sent=96.0), None),  # within the margin
    ],
)
def test_the_generator_is_the_limit_only_when_it_could_not_offer_the_step(row, why):
    found = generator.bound(row, cpu_bound=0.9, max_loop_lag_ms=50, margin=0.05, p99_ms=200)
    assert (found is None) if why is None else (why in found), found


@pytest.mark.parametrize(
    ("p99", "why"),
    [
        (400.0, "while the target answered within 500 ms"),
        (600.0, None),  # answers slower than the 500 ms pace held the users back: the target's
    ],
)
def test_answers_slower_than_the_pace_are_the_targets_not_the_generators(p99, why):
    """With a loose P99 threshold (1 s) and users paced every 500 ms."""
    row = _row(sent=80.0, p99=p99)
    found = generator.bound(row, 0.9, 50, 0.05, p99_ms=1000, pace_ms=500)
    assert (found is None) if why is None else (why in found), found


def test_the_generators_figures_ride_on_the_line_worst_lag_and_every_missed_pace(tmp_path):
    live = tmp_path / "live.jsonl"
    result = _locust_python(f"""
        import json, instrumentation, time
        time.time = lambda: 4000.5  # a fixed clock, in this throw-away process only
        workers = [instrumentation.LiveRecorder(None, None) for _ in range(2)]
        for lag, worker in zip((2.0, 40.0), workers):
            worker.note_loop_lag(lag)
            worker.note_loop_lag(lag / 2)
            worker.missed_pace()
        master = instrumentation.LiveRecorder({str(live)!r}, None)
        master.flushed_until = 4000
        master.note_loop_lag(0.5)
        for worker in workers:
            master.take_over(json.loads(json.dumps(worker.hand_over())))
        master.flush(final=True)
    """)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(line) for line in live.read_text().splitlines()]
    assert line["t"] == 4000 and line["loop_lag_ms"] == 40.0 and line["pace_missed"] == 2


LAG_AND_PACE = """
import json, time, gevent, instrumentation, locustfile
from locust import task
from locust.env import Environment
gevent.spawn(instrumentation._measure_loop_lag)
gevent.sleep(0.3)
busy_until = time.monotonic() + 0.25
while time.monotonic() < busy_until:  # the process holds the CPU: the greenlet wakes late
    pass
gevent.sleep(0.3)

class Slow(locustfile.PacedUser):
    host = "http://127.0.0.1:9"
    pace_s = 0.1
    wait_time = locustfile.PacedUser.paced_wait
    @task
    def answer_late(self):
        gevent.sleep(0.15 if len(stamps) % 2 else 0.01)  # every other answer overruns the pace
        stamps.append(time.monotonic())

stamps = []
runner = Environment(user_classes=[Slow]).create_local_runner()
runner.start(1, spawn_rate=1)
gevent.sleep(1.2)
runner.quit()
figures = list(instrumentation.recorder.generator.values())
print(json.dumps({"lag": max(f.get("loop_lag_ms", 0) for f in figures),
                  "missed": sum(f.get("pace_missed", 0) for f in figures), "tasks": len(stamps)}))
"""


def test_loop_lag_and_missed_paces_are_measured_in_a_locust_process():
    result = _locust_python(LAG_AND_PACE)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert 200 <= measured["lag"] <= 400, measured
    # each slow task overruns its 100 ms slot; the quick one after it starts at once
    assert measured["tasks"] >= 6 and measured["missed"] >= measured["tasks"] // 2 - 1, measured
