"""Host faults: stress-ng starving the API's CPUs, or holding a share of the machine's memory.

stress-ng runs as a holder (``gameday.holders``, ledger kind ``holder``): its holder
(``gameday.stressholder``) starts in a session of its own and is recorded (pid, start ticks,
boot; its process group is its pid) BEFORE it receives its orders and becomes stress-ng, so
``release`` and ``gameday recover`` SIGKILL the whole group, stress-ng's workers with it, even
when the runner is gone. stress-ng's own ``--timeout`` (``hold_s`` plus a margin) is the second
guard. The CPU stressor is pinned (``--taskset``) to the CPUs the API's process may run on
(its affinity, read from the process), at a priority of its own (``nice``: where the kernel
groups tasks by session, autogroup, stress-ng weighs one group whatever its worker count); the memory stressor touches its bytes once and holds
them (``--vm-hang 0``), at most ``MAX_SHARE`` of MemAvailable and never leaving less than
``MIN_LEFT_BYTES``, and is the first the OOM killer takes. Supervisor platform only.
Standard library only: recovery kills the holder with the machine's python3.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gameday import holders, procs, services
from gameday.errors import GamedayError
from gameday.target import Target

__all__ = [
    "MAX_HOLD_S",
    "MAX_SHARE",
    "StressError",
    "check_cpu",
    "check_memory",
    "release",
    "running",
    "starve_cpu",
    "take_memory",
]

COMMAND = "stress-ng"
SUBJECTS = {"cpu": "cpu stressor", "memory": "memory stressor"}
MAX_HOLD_S = 3600
TIMEOUT_MARGIN_S = 5
MAX_SHARE = 0.5
MIN_LEFT_BYTES = 2 * 2**30
MAX_WORKERS_PER_CPU = 8
WORKERS_TIMEOUT_S = 30.0
MEMINFO = Path("/proc/meminfo")


class StressError(GamedayError):
    """A stressor was refused (bad input, another platform) or did not start or stop."""


def starve_cpu(
    target: Target,
    hold_s: float = 300,
    load_pct: int = 100,
    workers_per_cpu: int = 1,
    nice: int = 0,
) -> dict[str, Any]:
    """stress-ng's CPU workers, ``workers_per_cpu`` on each CPU the API may run on, each busy
    ``load_pct`` % of the time, at priority ``nice`` (-20 weighs most), for at most ``hold_s``
    seconds."""
    check_cpu(hold_s, load_pct, workers_per_cpu, nice)
    cpus = api_cpus(target)
    workers = len(cpus) * workers_per_cpu
    argv = [
        *("--cpu", workers, "--cpu-load", load_pct),
        *("--taskset", ",".join(map(str, cpus))),
    ]
    held = _hold(
        target,
        "cpu",
        argv,
        hold_s,
        f"{workers} stress-ng CPU worker(s) at {load_pct} %, nice {nice}, on the API's CPUs {cpus}",
        lambda members: len(members) > workers,
        nice,
    )
    return {**held, "cpus": cpus, "workers": workers, "load_pct": load_pct, "nice": nice}


def take_memory(
    target: Target, hold_s: float = 300, share_of_available: float = 0.25
) -> dict[str, Any]:
    """A stress-ng VM worker that touches ``share_of_available`` of MemAvailable once and holds
    it for at most ``hold_s`` seconds; returns once it is resident."""
    check_memory(hold_s, share_of_available)
    if target.platform != "supervisor":
        raise StressError(f"memory pressure needs the lab's host, not {target.platform}")
    available = mem_available()
    taken = int(available * share_of_available)
    if available - taken < MIN_LEFT_BYTES:
        raise StressError(
            f"share_of_available {share_of_available:g} would leave "
            f"{(available - taken) / 2**20:.0f} MiB of {available / 2**20:.0f} MiB available, "
            f"under the {MIN_LEFT_BYTES / 2**20:.0f} MiB the lab's databases keep: lower it"
        )
    argv = [
        *("--vm", 1, "--vm-bytes", f"{taken}b", "--vm-hang", 0, "--vm-keep"),
        *("--vm-method", "write64", "--oomable"),
    ]
    held = _hold(
        target,
        "memory",
        argv,
        hold_s,
        f"stress-ng holding {taken / 2**20:.0f} MiB ({share_of_available:g} of MemAvailable)",
        lambda members: _resident(members) >= 0.9 * taken,
    )
    return {
        **held,
        "mem_available_bytes": available,
        "taken_bytes": taken,
        "share_of_available": share_of_available,
    }


def release(target: Target, stressor: str) -> dict[str, Any]:
    """Kill every recorded ``stressor`` (``cpu`` or ``memory``) and its workers."""
    released = holders.release(target, _subject(stressor))
    return {**released, "left": [p.pid for p in running()]}


def running() -> list[procs.Proc]:
    """stress-ng processes of the machine (the leader and its workers, ``stress-ng-<kind>``)."""
    return [p for p in procs.table() if p.command.startswith(COMMAND) and p.state != "Z"]


def api_cpus(target: Target) -> list[int]:
    """The CPUs the API's process may run on (its affinity)."""
    if target.platform != "supervisor":
        raise StressError(
            f"CPU starvation needs the API's process on this host, not {target.platform}"
        )
    pid = services.status("api", target).get("pid")
    try:
        return sorted(os.sched_getaffinity(int(pid or 0)))
    except (ProcessLookupError, ValueError):
        raise StressError(f"the API is not running (pid {pid}): nothing to starve") from None


def mem_available() -> int:
    """MemAvailable of /proc/meminfo, in bytes."""
    for line in MEMINFO.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise StressError(f"no MemAvailable in {MEMINFO}")


def check_cpu(hold_s: Any, load_pct: Any, workers_per_cpu: Any, nice: Any = 0) -> None:
    """Refuse bad CPU stressor parameters, naming each."""
    _check_hold(hold_s)
    if not _is_int(nice) or not -20 <= nice <= 19:
        raise StressError(f"nice must be a whole number -20 (weighs most) to 19, got {nice!r}")
    if not _is_int(load_pct) or not 1 <= load_pct <= 100:
        raise StressError(f"load_pct must be a whole percentage 1-100, got {load_pct!r}")
    if not _is_int(workers_per_cpu) or not 1 <= workers_per_cpu <= MAX_WORKERS_PER_CPU:
        raise StressError(
            f"workers_per_cpu must be a whole number 1-{MAX_WORKERS_PER_CPU}, got {workers_per_cpu!r}"
        )


def check_memory(hold_s: Any, share_of_available: Any) -> None:
    """Refuse bad memory stressor parameters, naming each."""
    _check_hold(hold_s)
    if not _is_number(share_of_available) or not 0 < share_of_available <= MAX_SHARE:
        raise StressError(
            f"share_of_available must be a share of MemAvailable in (0, {MAX_SHARE:g}] (more "
            f"would put the lab's databases in the OOM killer's way), got {share_of_available!r}"
        )


def _hold(
    target: Target, stressor: str, options: list, hold_s: float, note: str, ready, nice: int = 0
) -> dict[str, Any]:
    """Start stress-ng with ``options`` as a recorded holder; wait until ``ready(members)``."""
    timeout_s = int(hold_s + TIMEOUT_MARGIN_S)
    argv = [COMMAND, *map(str, options), "--timeout", f"{timeout_s}s", "--quiet"]
    held = holders.hold(
        target,
        _subject(stressor),
        "gameday.stressholder",
        {"argv": argv, "nice": nice},
        {},
        note=f"{note}, process group killed by the revert, stress-ng --timeout {timeout_s} s",
    )
    pid = held["pid"]
    began = time.monotonic()
    while not ready(procs.group(pid)):
        if not procs.group(pid) or time.monotonic() - began > WORKERS_TIMEOUT_S:
            holders.release(target, _subject(stressor))
            raise StressError(
                f"stress-ng ({' '.join(argv)}) did not get its workers going within "
                f"{WORKERS_TIMEOUT_S:g} s: nothing is left"
            )
        time.sleep(0.1)
    return {
        "stressor": stressor,
        "pid": pid,
        "pgid": pid,
        "members": len(procs.group(pid)),
        "command": argv,
        "hold_s": hold_s,
        "timeout_s": timeout_s,
        "started_s": round(time.monotonic() - began, 2),
        "ledger_id": held["ledger_id"],
    }


def _resident(members: list[procs.Proc]) -> int:
    """The resident bytes of ``members`` (VmRSS)."""
    total = 0
    for process in members:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        total += sum(
            int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")
        )
    return total


def _subject(stressor: str) -> str:
    if stressor not in SUBJECTS:
        raise StressError(f"stressor must be one of {', '.join(SUBJECTS)}, got {stressor!r}")
    return SUBJECTS[stressor]


def _check_hold(hold_s: Any) -> None:
    if not _is_number(hold_s) or not 0 < hold_s <= MAX_HOLD_S:
        raise StressError(f"hold_s must be a number of seconds 1-{MAX_HOLD_S}, got {hold_s!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
