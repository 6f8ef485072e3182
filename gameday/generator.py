"""The load generator's own limit: its CPU, its event-loop lag, the paces its users missed.

A step of load measures the target only if the generator offered it. While a
step is measured, ``sample`` reads the CPU time of every process of the Locust
run's process group (master and local workers, psutil) and of the whole
machine; ``figures`` turns two samples and the step's live seconds (their
``loop_lag_ms`` and ``pace_missed``, see ``workloads/instrumentation.py``) into
the generator's figures; ``bound`` says why the generator, not the target,
limited the step, or None:

- a Locust process used ``cpu_bound`` of a core or more (it cannot go faster);
- its event loop woke ``max_loop_lag_ms`` late or more (P90 of the step's
  seconds): it starts requests and reads answers late, so it times them long;
- its users sent fewer orders than offered (by more than ``margin``) while the
  target answered within the P99 threshold and within the users' pace (an answer
  slower than the pace holds its user back: that is the target's doing, queueing).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import psutil

__all__ = ["Sample", "bound", "figures", "sample"]

BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True)
class Sample:
    """CPU seconds of each process of a Locust group, and of the machine, at ``wall``."""

    wall: float
    processes: dict[int, float]
    machine_busy: float


def sample(pgid: int) -> Sample:
    """The CPU seconds so far of every live process in group ``pgid`` and of the machine."""
    processes = {}
    for process in psutil.process_iter(["cpu_times"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["cpu_times"] is not None:
                times = process.info["cpu_times"]
                processes[process.pid] = times.user + times.system
        except (ProcessLookupError, PermissionError):
            continue
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in BUSY_FIELDS)
    return Sample(time.monotonic(), processes, busy)


def figures(
    before: Sample, after: Sample, seconds: list[dict[str, Any]], workers: int
) -> dict[str, Any]:
    """The generator's figures over a step: cores used by its busiest process and by all,
    the machine's busy cores, loop lag (P90 and worst of the seconds), missed paces."""
    wall = max(after.wall - before.wall, 1e-6)
    cores = {
        pid: (after.processes[pid] - used) / wall
        for pid, used in before.processes.items()
        if pid in after.processes
    }
    lags = sorted(s["loop_lag_ms"] for s in seconds if "loop_lag_ms" in s)
    return {
        "workers": workers,
        "processes": len(cores),
        "cpu_cores_max": round(max(cores.values(), default=0.0), 3),
        "locust_cpu_cores": round(sum(cores.values()), 3),
        "machine_busy_cores": round((after.machine_busy - before.machine_busy) / wall, 3),
        "cpus": psutil.cpu_count() or 1,
        "loop_lag_ms_p90": lags[math.ceil(0.9 * len(lags)) - 1] if lags else None,
        "loop_lag_ms_max": lags[-1] if lags else None,
        "pace_missed": sum(int(s.get("pace_missed", 0)) for s in seconds),
    }


def bound(
    row: dict[str, Any],
    cpu_bound: float,
    max_loop_lag_ms: float,
    margin: float,
    p99_ms: float,
    pace_ms: float = math.inf,
) -> str | None:
    """Why the generator, not the target, limited the measured step ``row`` (its users paced
    one task every ``pace_ms``); None if it offered what it was asked."""
    generator = row["generator"]
    if generator["cpu_cores_max"] >= cpu_bound:
        return (
            f"a Locust process used {generator['cpu_cores_max']} of a core "
            f"(bound {cpu_bound}): the generator ran out of CPU"
        )
    lag = generator["loop_lag_ms_p90"]
    if lag is not None and lag >= max_loop_lag_ms:
        return (
            f"Locust's event loop woke {lag} ms late (P90 of the step's seconds, bound "
            f"{max_loop_lag_ms} ms): it sent and timed requests late"
        )
    fast_ms = min(p99_ms, pace_ms)
    answered_fast = row["p99_ms"] is not None and row["p99_ms"] <= fast_ms
    if answered_fast and row["sent_per_s"] < row["offered_per_s"] * (1 - margin):
        return (
            f"the users sent {row['sent_per_s']} orders/s of the {row['offered_per_s']} "
            f"offered ({generator['pace_missed']} tasks missed their pace) while the target "
            f"answered within {fast_ms:g} ms"
        )
    return None
