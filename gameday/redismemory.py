"""A full Redis: ``maxmemory`` lowered below the memory Redis uses, with ``noeviction``, so
Redis keeps answering reads and refuses every write with ``OOM`` (nothing is evicted).

``limit`` reads the current ``maxmemory`` and ``maxmemory-policy`` and records them in the
fault ledger (kind ``redis_maxmemory``) BEFORE it changes anything; ``restore`` and
``gameday recover`` set them back (``maxmemory`` first, so restoring an evicting policy
evicts nothing). Standard library only (``gameday.resp``): recovery runs the revert
with the machine's python3. Credentials: the ``redis_url`` secret, never recorded.
"""

from __future__ import annotations

from typing import Any

from gameday import interrupts, resp
from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["RedisMemoryError", "limit", "restore", "revert"]

KIND = "redis_maxmemory"
POLICY = "noeviction"
TIMEOUT_S = 5.0


class RedisMemoryError(GamedayError):
    """A limit was refused (bad input, one already set), or Redis could not be changed."""


def limit(target: Target, share_of_used: float = 0.5, secrets: dict | None = None) -> dict:
    """Set ``maxmemory`` to ``share_of_used`` of the memory Redis uses now, with
    ``noeviction``; the previous values are recorded first."""
    if isinstance(share_of_used, bool) or not isinstance(share_of_used, int | float):
        raise RedisMemoryError(f"share_of_used must be a number, got {share_of_used!r}")
    if not 0 < share_of_used < 1:
        raise RedisMemoryError(
            f"share_of_used {share_of_used:g} is out of range: a share of the used memory "
            "above 0 and under 1 (0.5 sets maxmemory to half of it)"
        )
    book = ledger_for(target)
    open_ = [e["id"] for e in book.entries() if e["kind"] == KIND]
    if open_:
        raise RedisMemoryError(
            f"Redis's maxmemory is already lowered (ledger entry {open_[0]}): restore it first "
            "(`restore_redis_memory` or `gameday recover`), or its recorded value would be lost"
        )
    url = _url(target, secrets)
    maxmemory, policy, info = _call(
        url,
        ("CONFIG", "GET", "maxmemory"),
        ("CONFIG", "GET", "maxmemory-policy"),
        ("INFO", "memory"),
    )
    used = _used_memory(info)
    lowered = max(1, int(used * share_of_used))
    previous = {"maxmemory": maxmemory[1], "maxmemory_policy": policy[1]}
    with interrupts.deferred():
        entry_id = book.record(
            KIND,
            "redis",
            previous,
            note=(
                f"CONFIG SET maxmemory {lowered} (used {used}) with {POLICY}; was maxmemory "
                f"{previous['maxmemory']}, {previous['maxmemory_policy']}"
            ),
        )
        try:
            _call(
                url,
                ("CONFIG", "SET", "maxmemory-policy", POLICY),
                ("CONFIG", "SET", "maxmemory", lowered),
            )
        except RedisMemoryError:
            revert({"revert": previous}, target, secrets)  # half set: put both back
            book.resolve(entry_id)
            raise
    return {
        "maxmemory": lowered,
        "used_memory": used,
        "maxmemory_policy": POLICY,
        "previous": previous,
        "ledger_id": entry_id,
    }


def restore(target: Target, secrets: dict | None = None) -> dict[str, Any]:
    """Set back what every open limit recorded; without one, nothing changes."""
    book = ledger_for(target)
    entries = [e for e in book.entries() if e["kind"] == KIND]
    if not entries:
        return {"changed": False, "note": "no maxmemory limit recorded"}
    restored = {}
    for entry in entries:
        restored = revert(entry, target, secrets)
        book.resolve(entry["id"])
    return {"changed": True, "resolved": [e["id"] for e in entries], **restored}


def revert(entry: dict, target: Target, secrets: dict | None = None) -> dict[str, Any]:
    """Revert a "redis_maxmemory" entry: the recorded maxmemory, then the recorded policy."""
    recorded = entry["revert"]
    _call(
        _url(target, secrets),
        ("CONFIG", "SET", "maxmemory", recorded["maxmemory"]),
        ("CONFIG", "SET", "maxmemory-policy", recorded["maxmemory_policy"]),
    )
    return {"restored": dict(recorded)}


def _used_memory(info: str) -> int:
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    raise RedisMemoryError("Redis's INFO memory has no used_memory line")


def _url(target: Target, secrets: dict | None) -> str:
    try:
        return resp.redis_url(target, secrets)
    except resp.RespError as exc:
        raise RedisMemoryError(str(exc)) from None


def _call(url: str, *commands: tuple[Any, ...]) -> list[Any]:
    try:
        return resp.call(url, TIMEOUT_S, *commands)
    except resp.RespError as exc:
        raise RedisMemoryError(f"Redis's maxmemory: {exc}") from None
