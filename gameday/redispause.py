"""Pause Redis's clients with its own ``CLIENT PAUSE <ms> WRITE|ALL``: Redis stays up and
connected, but holds writes (WRITE) or every command (ALL) until the pause ends.

The ledger entry (kind ``redis_pause``) is written before the pause with when it ends; the
revert (``unpause``, ``gameday recover``) sends ``CLIENT UNPAUSE``. Redis itself holds an
UNPAUSE sent during an ALL pause until the pause ends, so the revert waits at most that long;
a pause always ends by itself. Credentials: the ``redis_url`` secret, never recorded.
Standard library only (``gameday.resp``): recovery runs the revert with the machine's python3.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import resp
from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["MAX_PAUSE_S", "MODES", "RedisPauseError", "pause", "revert", "unpause"]

KIND = "redis_pause"
MODES = ("WRITE", "ALL")
MAX_PAUSE_S = 600
MARGIN_S = 5


class RedisPauseError(GamedayError):
    """A pause was refused (bad input), or Redis could not be paused or unpaused."""


def pause(
    target: Target, pause_s: float, mode: str = "ALL", secrets: dict | None = None
) -> dict[str, Any]:
    """``CLIENT PAUSE <pause_s in ms> mode``; recorded first."""
    if mode not in MODES:
        raise RedisPauseError(f"mode {mode!r} is not a pause mode: use WRITE or ALL")
    if isinstance(pause_s, bool) or not isinstance(pause_s, int | float):
        raise RedisPauseError(f"pause_s must be a number of seconds, got {pause_s!r}")
    if not 0 < pause_s <= MAX_PAUSE_S:
        raise RedisPauseError(f"pause_s {pause_s:g} is out of range: pause 0-{MAX_PAUSE_S} s")
    pause_ms = max(1, round(pause_s * 1000))
    url = _url(target, secrets)
    until = time.time() + pause_ms / 1000
    entry_id = ledger_for(target).record(
        KIND,
        "redis",
        {"action": "unpause", "until": until},
        note=f"CLIENT PAUSE {pause_ms} {mode} (ends by itself at {time.ctime(until)})",
    )
    _command(url, 3, "CLIENT", "PAUSE", pause_ms, mode)
    return {"mode": mode, "pause_s": pause_s, "until": until, "ledger_id": entry_id}


def unpause(target: Target, secrets: dict | None = None) -> dict[str, Any]:
    """``CLIENT UNPAUSE`` and resolve every open pause; without one, nothing changes."""
    book = ledger_for(target)
    entries = [e for e in book.entries() if e["kind"] == KIND]
    if not entries:
        return {"changed": False, "note": "no pause recorded"}
    began = time.monotonic()
    for entry in entries:
        revert(entry, target, secrets)
        book.resolve(entry["id"])
    return {
        "changed": True,
        "resolved": [e["id"] for e in entries],
        "seconds": round(time.monotonic() - began, 3),
    }


def revert(entry: dict, target: Target, secrets: dict | None = None) -> dict[str, Any]:
    """Revert a "redis_pause" entry: CLIENT UNPAUSE, waiting out an ALL pause at most."""
    left_s = max(0.0, entry["revert"]["until"] - time.time())
    _command(_url(target, secrets), left_s + MARGIN_S, "CLIENT", "UNPAUSE")
    return {"unpaused": True, "pause_left_s": round(left_s, 3)}


def _url(target: Target, secrets: dict | None) -> str:
    try:
        return resp.redis_url(target, secrets)
    except resp.RespError as exc:
        raise RedisPauseError(str(exc)) from None


def _command(url: str, timeout_s: float, *command: Any) -> str:
    try:
        return resp.command(url, timeout_s, *command)
    except resp.RespError as exc:
        raise RedisPauseError(f"{' '.join(map(str, command[:2]))} failed: {exc}") from None
