"""Holder processes: a fault held by a process of its own (a table lock, held connections),
recorded in the ledger (kind ``holder``), so it dies with ``gameday recover`` even when the
runner that started it is gone.

``hold`` starts the program in a session of its own (its process group is its pid), records
it (``procs.identity``: pid, start ticks, boot) BEFORE it acts, then hands it its orders on
stdin (one JSON line) and waits for its "ready" line on stdout. Holders bound themselves in
time too (``hold_s``). ``release`` and ``revert`` SIGKILL the recorded group (never a reused
pid) and wait until it is gone. Standard library only: recovery runs the revert with the
machine's python3.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

from gameday import procs
from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["HolderError", "hold", "release", "revert"]

KIND = "holder"
READY_TIMEOUT_S = 15.0
GONE_TIMEOUT_S = 10.0


class HolderError(GamedayError):
    """A holder could not be started, did not get ready, or could not be stopped."""


def hold(
    target: Target,
    subject: str,
    module: str,
    orders: dict[str, Any],
    env: dict[str, str],
    note: str,
) -> dict[str, Any]:
    """Run ``python -m module``, record it, send it ``orders``, wait for its ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )
    recorded = procs.identity(process.pid)  # our unreaped child: it is there
    try:
        entry_id = ledger_for(target).record(KIND, subject, {"action": "kill", **recorded}, note)
    except GamedayError:
        _kill(process.pid)
        raise
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(orders) + "\n")
    process.stdin.close()
    ready = _ready_line(process)
    if not ready.startswith("ready"):
        _stop(recorded)
        ledger_for(target).resolve(entry_id)
        raise HolderError(f"the holder of {subject} did not get ready: {ready}")
    return {"pid": process.pid, "ledger_id": entry_id, "ready": ready.split()[1:]}


def release(target: Target, subject: str) -> dict[str, Any]:
    """Stop every holder of ``subject`` and resolve their entries; none: nothing changes."""
    book = ledger_for(target)
    stopped, resolved = [], []
    for entry in book.entries():
        if entry["kind"] == KIND and entry["subject"] == subject:
            stopped.append(revert(entry, target))
            book.resolve(entry["id"])
            resolved.append(entry["id"])
    return {"subject": subject, "stopped": stopped, "changed": bool(resolved)}


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Revert a "holder" entry: SIGKILL its process group, if it is still the same process
    (an entry recorded with psutil's create time, ``started``, is checked against it), and
    wait until the group is gone. A holder's PostgreSQL session is not waited for: the
    server ends it by itself as soon as the killed holder's connection closes."""
    return {"pid": entry["revert"]["pid"], "outcome": _stop(entry["revert"])}


def _ready_line(process: subprocess.Popen) -> str:
    """The holder's first line, or why there is none within READY_TIMEOUT_S."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline().strip() if readable else ""
    if line:
        return line
    if process.poll() is None and not readable:
        return f"no answer within {READY_TIMEOUT_S:g} s"
    process.wait(timeout=5)
    error = (process.stderr.read() if process.stderr else "").strip().splitlines()
    return f"exited with code {process.returncode}: {error[-1] if error else 'no output'}"


def _stop(recorded: dict[str, Any]) -> str:
    pid = int(recorded["pid"])
    process = procs.same(recorded)
    if process is None:
        _reap(pid)
        now = procs.read(pid)
        return "already gone" if now is None or now.state == "Z" else "already gone (pid reused)"
    if process.pgid != pid:
        raise HolderError(
            f"holder pid {pid} no longer leads its process group ({process.pgid}): kill it by hand"
        )
    _kill(pid)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while procs.group(pid):  # zombies are not members: they are gone
        if time.monotonic() >= deadline:
            raise HolderError(f"holder pid {pid} survived SIGKILL for {GONE_TIMEOUT_S:g} s")
        time.sleep(0.05)
    _reap(pid)
    return "killed"


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # its own session: the group is its pid
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (else its parent or init does)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
