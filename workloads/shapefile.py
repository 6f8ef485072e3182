"""The load shape of a run, for Locust: ``locust -f locustfile.py,shapefile.py``.

The shape and its parameters come from ``COFFEE_SHAPE`` and
``COFFEE_SHAPE_PARAMS`` (JSON), set by ``gameday.locustrun``; the shape
logic itself is in ``shapes/`` (one file per shape). Wrong parameters stop
Locust before any load, naming the problem.
"""

from __future__ import annotations

import json
import os
import sys

import env
import shapes
from locust import LoadTestShape


def _configured() -> shapes.Shape:
    try:
        return shapes.build(
            os.environ.get(env.SHAPE, ""), json.loads(os.environ.get(env.SHAPE_PARAMS) or "{}")
        )
    except (shapes.ShapeError, ValueError) as exc:
        sys.stderr.write(f"coffee-chaos shapefile: {exc}\n")
        sys.exit(2)


class ConfiguredShape(LoadTestShape):
    """Delegates ``tick()`` to the configured shape at Locust's run time."""

    plan = _configured()
    stages = plan.stages

    def tick(self) -> tuple[int, float] | None:
        return self.plan.tick(self.get_run_time())
