"""The capacity search's load: Locust under the ``search`` shape, its rate set step by step.

``SearchLoad.step(rate)`` rewrites the shape's control file, waits out the warm-up
(the shape's next tick, the users' spawning and first pace, then ``settle_s``),
samples the Locust processes' CPU (``gameday.generator``) over the measured
seconds, waits until the live statistics cover them (2.5 s later with workers)
and returns the step's figures (``gameday.capacity.measure``: requests still
open at its end count at their age) with the generator's. ``more_workers``
restarts Locust with more local workers (``--processes``), up to the plan's
``max_workers`` (0: the machine's CPUs). The first run writes to
``<run_dir>/locust``, a restarted one to ``<run_dir>/workers-<N>/locust``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from gameday import capacity, generator, livestats, locustrun
from gameday.capacityfile import CapacityError
from gameday.capsearch import SearchPlan
from gameday.target import Target
from workloads.shapes import users_for

__all__ = ["SearchLoad"]

CONTROL_FILE = "search-rate.json"
TICK_S = 1  # Locust asks the shape for its users every second
LIVE_WAIT_S = 15  # beyond the step's end: how long the live statistics may lag


class SearchLoad:
    """One Locust run at a time, under the search shape, for the whole search."""

    def __init__(
        self,
        target: Target,
        plan: SearchPlan,
        user_classes: dict[str, int],
        workers: int,
        limit_s: int,
    ) -> None:
        self.target, self.plan, self.user_classes = target, plan, user_classes
        self.workers, self.limit_s = workers, limit_s
        self.max_workers = plan.max_workers or (os.cpu_count() or 1)
        self.control = target.run_dir / CONTROL_FILE
        self.users = 0
        self.run: dict[str, Any] = {}

    def start(self, rate: float) -> dict[str, Any]:
        """Start Locust at ``rate`` orders/s with the current number of workers."""
        self._ask(rate)
        run_dir = self.target.run_dir
        if self.run:
            run_dir = run_dir / f"workers-{self.workers}"
        self.users = 0
        self.run = locustrun.start(
            run_dir,
            self.target.api_url,
            users_for(self.plan.max_rate, self.plan.user_rate_s),
            self.plan.spawn_rate,
            self.limit_s,
            self.user_classes,
            self.target,
            shape="search",
            shape_params={
                "control_file": str(self.control),
                "user_rate_s": self.plan.user_rate_s,
                "max_orders_per_s": self.plan.max_rate,
                "spawn_rate": self.plan.spawn_rate,
                "duration_s": self.limit_s - 5,
            },
            workers=self.workers,
            request_timeout_s=self.target.request_timeout_s,
        )
        return self.run

    def step(self, rate: float, phase: str) -> dict[str, Any]:
        """Offer ``rate`` orders/s and measure it once warmed up: the step's figures."""
        users = users_for(rate, self.plan.user_rate_s)
        offered = users * self.plan.user_rate_s
        spawning_s = abs(users - self.users) / self.plan.spawn_rate
        self._ask(offered)
        self.users = users
        warm_up = TICK_S + spawning_s + 1 / self.plan.user_rate_s + self.plan.settle_s
        begin = math.ceil(time.time() + warm_up)
        end = begin + self.plan.measure_s(offered)
        _sleep_until(begin)
        before = generator.sample(self.run["pid"])
        _sleep_until(end)
        after = generator.sample(self.run["pid"])
        seconds = self._seconds_until(end)
        window = [s for s in seconds if begin <= s["t"] < end]
        row = {"phase": phase, "users": users}
        row.update(capacity.measure(seconds, begin, end, offered))
        row["generator"] = generator.figures(before, after, window, self.workers)
        return row

    def more_workers(self) -> int | None:
        """Restart Locust with more local workers; their count, or None at the maximum."""
        if self.workers >= self.max_workers:
            return None
        rate = self.users * self.plan.user_rate_s
        self.stop()
        self.workers = min(self.max_workers, max(2, 2 * self.workers))
        self.start(rate)
        return self.workers

    def stop(self) -> None:
        """Stop the current Locust run (its final files are written)."""
        self._ask(0)
        locustrun.stop(self.target)

    def _ask(self, rate: float) -> None:
        """Write the rate for the shape's next tick (atomically: it never reads half)."""
        tmp = self.control.with_name(f".{self.control.name}.tmp")
        self.control.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"orders_per_s": rate}))
        os.replace(tmp, self.control)

    def _seconds_until(self, end: int) -> list[dict[str, Any]]:
        """The live seconds once they reach ``end`` (exclusive); CapacityError if Locust
        stopped or the statistics lag too long."""
        live = Path(self.run["live_file"])
        deadline = time.monotonic() + max(0.0, end - time.time()) + LIVE_WAIT_S
        while True:
            seconds = livestats.read_seconds(live)
            if max((s["t"] for s in seconds), default=0) >= end - 1:
                return seconds
            if livestats.outcome(live)["finished"]:
                raise CapacityError(
                    f"the search's load stopped before its step ended (its bound, "
                    f"load_limit_s, is {self.limit_s} s): see {live.parent / 'locust.log'}"
                )
            if time.monotonic() > deadline:
                raise CapacityError(f"the live statistics in {live} lag over {LIVE_WAIT_S} s")
            time.sleep(0.5)


def _sleep_until(epoch_s: float) -> None:
    time.sleep(max(0.0, epoch_s - time.time()))
