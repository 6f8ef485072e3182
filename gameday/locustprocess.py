"""A Locust run's process group: stopped gracefully, then killed, never left behind.

Locust runs in a session of its own, so its master and local workers share one
process group whose id is the master's pid.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psutil

from gameday.errors import LoadError

__all__ = ["GRACE_S", "is_locust", "terminate"]

GRACE_S = 15.0  # how long Locust may take to write its final files after SIGINT


def terminate(pid: int) -> dict[str, Any]:
    """SIGINT the Locust (master) process, wait, then SIGKILL whatever is left of its group."""
    if not is_locust(pid):
        _reap(pid)
        outcome = {"stopped": "already gone"}
    else:
        os.kill(pid, signal.SIGINT)
        outcome = {"stopped": "gracefully"}
        if not _wait_gone(pid, GRACE_S):
            _kill_group(pid)
            outcome = {"stopped": "killed"}
            if not _wait_gone(pid, 5.0):
                raise LoadError(
                    f"Locust (pid {pid}) survived SIGKILL: kill its process group by hand"
                )
    _stop_group_leftovers(pid)
    return outcome


def _stop_group_leftovers(pgid: int) -> None:
    """Workers quit with their master; SIGKILL the group if any is still there after 5 s."""
    if _wait_until(lambda: not _group_alive(pgid), 5.0):
        return
    _kill_group(pgid)
    if not _wait_until(lambda: not _group_alive(pgid), 5.0):
        raise LoadError(
            f"Locust workers of group {pgid} survived SIGKILL: "
            f"kill them by hand (kill -9 -- -{pgid})"
        )


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in process group ``pgid``."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def _wait_until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def is_locust(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process whose command line mentions locust."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "locust" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_locust(pid):
            return True
        time.sleep(0.1)
    return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)
