"""Freeze a service: SIGSTOP every process of its tree, so its ports stay open and nothing
answers (a grey failure: connections are accepted by the kernel, then hang); thaw: SIGCONT.

The ledger entry (kind ``freeze``) is written BEFORE the first SIGSTOP with the program's
processes (``procs.identity``: pid, start ticks and boot, so a pid reused since is never
signalled). The root is stopped first, so it forks nothing meanwhile; processes it forked
between the listing and its stop are stopped too, and the revert (``thaw``, ``gameday
recover``) continues the recorded processes and every descendant the recorded root has then.
Supervisor only. Standard library only: recovery runs the revert with the machine's python3.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from gameday import procs, services
from gameday.errors import ServiceError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["freeze", "frozen", "revert", "thaw"]

KIND = "freeze"


def freeze(target: Target, name: str) -> dict[str, Any]:
    """Stop ``name``'s processes with SIGSTOP; record them first."""
    facts = _running(target, name)
    root = procs.read(facts["pid"])
    if root is None:
        raise ServiceError(f"service {name!r}: pid {facts['pid']} no longer exists")
    tree = [root, *procs.descendants(root.pid)]
    boot = procs.boot_id()  # procs.identity's form, of the very listing that is signalled
    recorded = [{"pid": p.pid, "start_ticks": p.start_ticks, "boot_id": boot} for p in tree]
    entry_id = ledger_for(target).record(
        KIND,
        name,
        {"action": "sigcont", "root": recorded[0], "processes": recorded},
        note=f"SIGSTOP to the {len(tree)} processes of program {facts['program']}",
    )
    stopped = _signal_all(name, tree, signal.SIGSTOP)
    late = [p for p in procs.descendants(root.pid) if p.pid not in {q.pid for q in tree}]
    stopped += _signal_all(name, late, signal.SIGSTOP)
    return {
        "service": name,
        "program": facts["program"],
        "signal": "SIGSTOP",
        "root_pid": root.pid,
        "stopped_pids": stopped,
        "ledger_id": entry_id,
    }


def thaw(target: Target, name: str) -> dict[str, Any]:
    """SIGCONT what every open freeze of ``name`` stopped, and resolve those entries."""
    target.service(name)
    book = ledger_for(target)
    continued: list[int] = []
    resolved = []
    for entry in book.entries():
        if entry["kind"] == KIND and entry["subject"] == name:
            continued += _continue(entry)
            book.resolve(entry["id"])
            resolved.append(entry["id"])
    return {
        "service": name,
        "signal": "SIGCONT",
        "continued_pids": sorted(set(continued)),
        "changed": bool(resolved),
        "resolved": resolved,
    }


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Revert a "freeze" ledger entry: SIGCONT its processes (idempotent). An entry recorded
    with psutil's create times (``started``) is checked against them (``procs.same``)."""
    return {"service": entry["subject"], "continued_pids": _continue(entry)}


def frozen(pids: list[int]) -> list[int]:
    """Those of ``pids`` (and their descendants) that are stopped."""
    processes = procs.table()
    found = []
    for pid in pids:
        root = [p for p in processes if p.pid == pid]
        if root:
            tree = root + procs.descendants(pid, processes)
            found += [p.pid for p in tree if p.state == "T"]
    return found


def _running(target: Target, name: str) -> dict[str, Any]:
    if target.platform != "supervisor":
        raise ServiceError(
            f"cannot freeze service {name!r} on {target.platform}: freezing signals the "
            "service's processes, which needs the supervisor platform"
        )
    facts = services.status(name, target)
    if not facts["running"] or not facts["pid"]:
        raise ServiceError(
            f"cannot freeze service {name!r}: it is {facts['state']}, not RUNNING; start it "
            "first (`gameday recover`)"
        )
    if facts["pid"] in (os.getpid(), 1):
        raise ServiceError(f"refusing to freeze pid {facts['pid']} of service {name!r}")
    return facts


def _signal_all(name: str, processes: list[procs.Proc], signum: int) -> list[int]:
    done = []
    for process in processes:
        try:
            if procs.send(process, signum):
                done.append(process.pid)
        except PermissionError:
            raise ServiceError(
                f"not allowed to signal pid {process.pid} of service {name!r}: run as root"
            ) from None
    return done


def _continue(entry: dict) -> list[int]:
    """SIGCONT the entry's recorded processes still alive (same start), the root first,
    then every descendant of the root."""
    spec = entry["revert"]
    alive = [p for p in map(procs.same, spec["processes"]) if p is not None]
    root = procs.same(spec["root"])
    if root is not None:
        alive += [p for p in procs.descendants(root.pid) if p.pid not in {q.pid for q in alive}]
    return procs.thaw(alive)
