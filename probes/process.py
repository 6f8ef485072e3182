"""Chaos Toolkit probes of a service's processes: RSS, open files, threads (psutil).

The service is named as in the target file; its pid comes from the process
manager (``gameday.services.status``), and its children count too (PostgreSQL's
backends, a server's workers). Supervisor platform only: on Kubernetes the probes answer
"not available" (with the pods' readiness and restarts) instead of judging; read the pods'
memory from the cluster's metrics (``kubectl top pods``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psutil
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import not_available, unmet
from gameday import services, stress

__all__ = ["no_stressor_left", "process_usage", "process_usage_over"]
logger = logging.getLogger("chaostoolkit")

MAX_WINDOW_S = 3600
MIN_INTERVAL_S = 0.05


def process_usage(
    service: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """RSS (bytes), open files, file descriptors and threads of ``service`` and its children
    ("not available" on a platform without processes to read)."""
    root = _root(service, configuration, secrets)
    return root if isinstance(root, dict) else _usage(service, root)


def process_usage_over(
    service: str,
    duration_s: float,
    interval_s: float = 0.25,
    max_peak_growth_mb: float | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Sample ``process_usage`` for ``duration_s``: first, last and peak RSS, growth, peak
    threads. With ``max_peak_growth_mb``, an expectation: the processes' resident high-water
    mark (the kernel's VmHWM, so a peak between two samples counts) grows by at most that."""
    if not 0 < duration_s <= MAX_WINDOW_S or not MIN_INTERVAL_S <= interval_s <= duration_s:
        raise ActivityFailed(
            f"duration_s must be in (0, {MAX_WINDOW_S}] and interval_s in "
            f"[{MIN_INTERVAL_S}, duration_s], got {duration_s!r} and {interval_s!r}"
        )
    root = _root(service, configuration, secrets)
    if isinstance(root, dict):
        return root
    samples = []
    deadline = time.monotonic() + duration_s
    while True:
        samples.append(_usage(service, root))
        if time.monotonic() + interval_s > deadline:
            break
        time.sleep(interval_s)
    first, last = samples[0], samples[-1]
    facts = {
        "service": service,
        "samples": len(samples),
        "duration_s": duration_s,
        "first_rss_bytes": first["rss_bytes"],
        "last_rss_bytes": last["rss_bytes"],
        "peak_rss_bytes": max(s["rss_bytes"] for s in samples),
        "rss_growth_bytes": last["rss_bytes"] - first["rss_bytes"],
        "peak_threads": max(s["threads"] for s in samples),
        "peak_fds": max(s["fds"] for s in samples),
        "high_water_growth_bytes": last["high_water_bytes"] - first["high_water_bytes"],
    }
    growth_mb = facts["high_water_growth_bytes"] / 2**20
    if max_peak_growth_mb is not None and growth_mb > max_peak_growth_mb:
        raise ActivityFailed(
            unmet(
                f"{service}'s peak memory to grow by at most {max_peak_growth_mb} MiB over "
                f"{duration_s} s",
                f"its resident high-water mark grew by {growth_mb:.1f} MiB",
                figures=facts,
            )
        )
    return facts


def no_stressor_left(
    settle_s: float = 2.0, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """No stress-ng process is left on the host (after ``settle_s`` for one being reaped)."""
    deadline = time.monotonic() + settle_s
    while (left := stress.running()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        raise ActivityFailed(
            unmet(
                "no stress-ng process left after the revert",
                ", ".join(f"{p.pid} {p.command}" for p in left),
            )
        )
    return {"stress_ng_processes": 0}


def _root(
    service: str, configuration: Configuration, secrets: Secrets
) -> psutil.Process | dict[str, Any]:
    """The service's main process, or the "not available" answer of a platform without one."""
    with engine_call(f"find the process of service {service!r}", configuration) as target:
        status = services.status(service, target, secrets=secrets)
    if status.get("platform") != "supervisor":
        why = (
            f"the {status.get('platform')} platform gives no process memory, files or threads "
            "(read the pods' memory from the cluster's metrics: kubectl top pods)"
        )
        facts = {k: status.get(k) for k in ("state", "pods", "ready", "restarts")}
        return {**not_available(f"process figures of {service}", why), **facts}
    if not status.get("pid"):
        raise ActivityFailed(f"service {service!r} is {status.get('state')}: no process to measure")
    try:
        return psutil.Process(status["pid"])
    except psutil.NoSuchProcess:
        raise ActivityFailed(
            f"service {service!r}: pid {status['pid']} is gone (restarted meanwhile?)"
        ) from None


def _usage(service: str, root: psutil.Process) -> dict[str, Any]:
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        raise ActivityFailed(f"service {service!r}: pid {root.pid} exited while measured") from None
    except psutil.AccessDenied:
        raise ActivityFailed(f"not allowed to inspect service {service!r}: run as root") from None
    rss = high_water = files = fds = threads = processes = 0
    for process in tree:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                high_water += _high_water(process.pid)
                threads += process.num_threads()
                fds += process.num_fds()
                files += len(process.open_files())
        except psutil.NoSuchProcess:
            continue  # a child that ended meanwhile
        except psutil.AccessDenied:
            raise ActivityFailed(
                f"not allowed to inspect pid {process.pid} of service {service!r}: run as root"
            ) from None
        processes += 1
    return {
        "service": service,
        "pid": root.pid,
        "processes": processes,
        "rss_bytes": rss,
        "high_water_bytes": high_water,
        "open_files": files,
        "fds": fds,
        "threads": threads,
    }


def _high_water(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM, bytes); 0 where the kernel has none."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
