"""GET /livez with no wait, for benchmarks/load_generator.py.

``BENCH_INSTRUMENTED=1``: the way our users request (``catch_response``, status
checked) with the engine's instrumentation loaded (live file, load metrics);
otherwise plain Locust FastHttpUser.

``BENCH_WINDOW_FILE``: where the measured window goes, from all users spawned
to the stop (before the users stop): seconds, requests, failures, and the CPU
seconds (user + system) of the Locust process and its children (the workers),
as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import WorkerRunner

INSTRUMENTED = os.environ.get("BENCH_INSTRUMENTED") == "1"
WINDOW_ENV = "BENCH_WINDOW_FILE"
if INSTRUMENTED:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workloads"))
    import instrumentation  # noqa: F401 - registers the engine's listeners


class Livez(FastHttpUser):
    wait_time = constant(0)

    @task
    def livez(self) -> None:
        if not INSTRUMENTED:
            self.client.get("/livez")
            return
        with self.client.get("/livez", name="/livez", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")


def _sample(environment: Environment) -> tuple[float, int, int, float]:
    """(time, requests, failures, CPU seconds of this process and its children) so far."""
    me = psutil.Process()
    cpu = sum(sum(p.cpu_times()[:2]) for p in (me, *me.children(recursive=True)))
    total = environment.stats.total
    return time.monotonic(), total.num_requests, total.num_failures, cpu


@events.init.add_listener
def _measure_window(environment: Environment, **_: Any) -> None:
    path = os.environ.get(WINDOW_ENV)
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    start: list[tuple[float, int, int, float]] = []

    def opens(**_: Any) -> None:
        start.append(_sample(environment))

    def closes(**_: Any) -> None:
        end = _sample(environment)
        names = ("seconds", "requests", "failures", "cpu_s")
        window = {name: b - a for name, a, b in zip(names, start[0], end, strict=True)}
        Path(path).write_text(json.dumps(window))

    environment.events.spawning_complete.add_listener(opens)
    environment.events.test_stopping.add_listener(closes)
