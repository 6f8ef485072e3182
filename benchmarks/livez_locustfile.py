"""GET /livez with no wait, for benchmarks/load_generator.py.

``BENCH_INSTRUMENTED=1``: the way our users request (``catch_response``, status
checked) with the engine's instrumentation loaded (live file, load metrics);
otherwise plain Locust FastHttpUser.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

INSTRUMENTED = os.environ.get("BENCH_INSTRUMENTED") == "1"
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
