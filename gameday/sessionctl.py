"""Steering a running game day from another terminal: pause, resume, abort.

The running session registers itself in ``<state_dir>/session/current.json`` (its pid
and directory). ``pause`` leaves a flag that holds the session before its next
experiment (the current one finishes and reverts); ``resume`` removes it; ``abort``
leaves a flag and interrupts the session like Ctrl-C: the current experiment stops
through its rollbacks and the report of what ran is written.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from gameday.errors import GamedayError
from gameday.target import Target

__all__ = ["SessionControlError", "abort", "clear", "flags", "pause", "register", "resume"]


class SessionControlError(GamedayError):
    """No game day is running to steer."""


def _dir(target: Target) -> Path:
    return target.state_dir / "session"


def register(target: Target, directory: Path) -> None:
    """Record this process as the running session; a stale pause or abort is dropped."""
    clear(target)
    _dir(target).mkdir(parents=True, exist_ok=True)
    body = {"pid": os.getpid(), "dir": str(directory.resolve())}
    (_dir(target) / "current.json").write_text(json.dumps(body))


def clear(target: Target) -> None:
    for name in ("current.json", "pause", "abort"):
        (_dir(target) / name).unlink(missing_ok=True)


def flags(target: Target) -> dict[str, bool]:
    """Which of ``pause`` and ``abort`` are asked for."""
    return {name: (_dir(target) / name).exists() for name in ("pause", "abort")}


def running(target: Target) -> dict[str, Any]:
    """The running session's pid and directory; SessionControlError when none runs."""
    path = _dir(target) / "current.json"
    try:
        body = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise SessionControlError("no game day is running (`gameday run` starts one)") from None
    try:
        os.kill(int(body["pid"]), 0)
    except ProcessLookupError:
        raise SessionControlError(
            f"no game day is running: the session of {body.get('dir')} (pid {body['pid']}) is "
            f"gone; continue it with `gameday run --resume {body.get('dir')}`"
        ) from None
    return body


def pause(target: Target) -> dict[str, Any]:
    session = running(target)
    (_dir(target) / "pause").touch()
    return session


def resume(target: Target) -> dict[str, Any]:
    session = running(target)
    (_dir(target) / "pause").unlink(missing_ok=True)
    return session


def abort(target: Target) -> dict[str, Any]:
    session = running(target)
    (_dir(target) / "abort").touch()
    os.kill(int(session["pid"]), signal.SIGINT)
    return session
