"""A Locust run's processes: stopped gracefully, then killed, never left behind, never mistaken.

Locust runs in a session of its own, so its master and local workers share one
process group whose id is the master's pid. Every process of a run carries the
run's mark in its environment (``MARK_ENV``), and the ledger holds the mark
BEFORE Locust starts, then the master's pid with its start time: recovery finds
a run by its mark even when its starter died before recording the pid, and
signals no process that lacks it (a pid reused after a reboot or a wrap may be
PostgreSQL's). Standard library only: recovery runs it with the machine's python3.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from gameday import procs
from gameday.errors import LoadError
from gameday.target import Target

__all__ = ["GRACE_S", "MARK_ENV", "current_file", "last_file", "members", "revert", "terminate"]

MARK_ENV = "COFFEE_CHAOS_LOAD_MARK"
GRACE_S = 15.0  # how long Locust may take to write its final files after SIGINT
KILL_WAIT_S = 5.0


def members(mark: str) -> list[procs.Proc]:
    """The live processes of the run marked ``mark`` (its master and workers)."""
    if not mark:
        return []
    return [
        p for p in procs.table() if p.state != "Z" and procs.environ(p.pid).get(MARK_ENV) == mark
    ]


def terminate(mark: str, master: dict | None = None) -> dict[str, Any]:
    """SIGINT the run's master, so Locust writes its final files, wait, then SIGKILL
    whatever of the run is left. ``master`` is the master's ``procs.identity`` when it was
    recorded (its start time is checked); else the master is the marked group leader."""
    pid = int((master or {}).get("pid") or 0)
    running = members(mark)
    if not running:
        _reap(pid)
        return {"stopped": "already gone"}
    outcome = {"stopped": "killed"}
    if pid:
        leader = [p for p in running if p.pid == pid and procs.is_same(master or {})]
    else:
        leader = [p for p in running if p.pid == p.pgid]
    if leader and procs.send(leader[0], signal.SIGINT):
        outcome = {"stopped": "gracefully"}
        if not _wait_until(lambda: not _alive(leader[0]), GRACE_S, pid):
            outcome = {"stopped": "killed"}
    if not _wait_until(lambda: not members(mark), KILL_WAIT_S if leader else 0, pid):
        for process in members(mark):
            procs.send(process, signal.SIGKILL)
        if not _wait_until(lambda: not members(mark), KILL_WAIT_S, pid):
            left = [p.pid for p in members(mark)]
            raise LoadError(f"Locust processes {left} survived SIGKILL: kill them by hand")
    return outcome


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Ledger reverter: stop the marked run if any of it is still there (idempotent)."""
    spec = entry.get("revert", {})
    outcome = terminate(str(spec.get("mark") or ""), spec)
    path = current_file(target)
    try:
        if json.loads(path.read_text()).get("ledger_id") == entry.get("id"):
            os.replace(path, last_file(target))
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    return {"pid": spec.get("pid"), **outcome}


def current_file(target: Target) -> Path:
    """The recorded run of ``target`` (``gameday.locustrun``)."""
    return target.state_dir / "load" / "current.json"


def last_file(target: Target) -> Path:
    """The last run of ``target`` that was stopped."""
    return target.state_dir / "load" / "last.json"


def _alive(process: procs.Proc) -> bool:
    now = procs.read(process.pid)
    return now is not None and now.start_ticks == process.start_ticks and now.state != "Z"


def _wait_until(condition: Any, timeout_s: float, child: int) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(child)
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (else its parent or init does)."""
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
