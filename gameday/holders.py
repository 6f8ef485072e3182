"""Holder processes: a fault held by a process of its own (a table lock, held connections),
recorded in the ledger (kind ``holder``), so it dies with ``gameday recover`` even when the
runner that started it is gone.

``hold`` starts the program in a session of its own, records its pid, start time and process
group BEFORE it acts, then hands it its orders on stdin (one JSON line) and waits for its
"ready" line on stdout. Holders bound themselves in time too (``hold_s``). ``release`` and
``revert`` SIGKILL the recorded group (never a reused pid) and wait until it is gone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from typing import Any

import psutil

from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["HolderError", "hold", "release", "revert"]

KIND = "holder"
READY_TIMEOUT_S = 15.0


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
    recorded = {"pid": process.pid, "started": psutil.Process(process.pid).create_time()}
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
    """Revert a "holder" entry: SIGKILL its process group, if it is still the same process."""
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
    try:
        process = psutil.Process(recorded["pid"])
        if abs(process.create_time() - recorded["started"]) > 0.01:
            return "already gone (pid reused)"
    except psutil.NoSuchProcess:
        return "already gone"
    _kill(recorded["pid"])
    try:
        process.wait(timeout=10)
    except psutil.TimeoutExpired:
        raise HolderError(f"holder pid {recorded['pid']} survived SIGKILL") from None
    return "killed"


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # its own session: the group is its pid
    except ProcessLookupError:
        pass
