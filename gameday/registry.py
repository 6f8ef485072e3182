"""The machine's one state registry (standard library only).

Whatever target file a run uses, the machine has one kill switch, one run lock
and one list of the ledgers in use, all under ``/var/lib/coffee-chaos``:

- ``STOP``: the kill switch; every run's safeguard and admission read it;
- ``run.lock``: one experiment (or one recovery) at a time; it names its holder;
- ``ledgers/``: one file per ledger directory a fault was ever recorded in, with
  the target file that wrote it, so recovery reverts every ledger.

``$COFFEE_CHAOS_REGISTRY`` moves it, for tests that must not touch the lab's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import IO

__all__ = ["REGISTRY_ENV", "forget", "kill_switch", "ledgers", "register", "root", "take_lock"]

REGISTRY_ENV = "COFFEE_CHAOS_REGISTRY"
DEFAULT_ROOT = "/var/lib/coffee-chaos"


def root() -> Path:
    """Where the registry lives."""
    return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_ROOT)


def kill_switch() -> Path:
    """The machine's kill switch: while this file exists, runs stop and none starts."""
    return root() / "STOP"


def take_lock(who: str) -> tuple[IO[str] | None, str]:
    """Take the machine's run lock for ``who``: ``(handle, "")`` once held (until the
    handle is closed or this process ends), ``(None, holder)`` when another holds it."""
    root().mkdir(parents=True, exist_ok=True)
    handle = open(root() / "run.lock", "a+")  # noqa: SIM115 - the caller holds it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        return None, holder
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} ({who})\n")
    handle.flush()
    return handle, ""


def register(ledger_dir: Path, target_file: Path | None) -> None:
    """Remember ``ledger_dir`` (and the target file its faults were made with)."""
    path = _record(ledger_dir)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    body = {"ledger_dir": str(ledger_dir), "target_file": str(target_file or "")}
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(body, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def ledgers() -> list[tuple[Path, Path | None]]:
    """Every registered ledger directory, with its target file (None when unknown); a
    directory that no longer exists holds no fault and is forgotten."""
    found = []
    for path in sorted((root() / "ledgers").glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            directory, target_file = Path(body["ledger_dir"]), body.get("target_file")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a torn record: its ledger is found again when it records a fault
        if not directory.exists():
            path.unlink(missing_ok=True)
            continue
        found.append((directory, Path(target_file) if target_file else None))
    return found


def forget(ledger_dir: Path) -> None:
    """Drop ``ledger_dir`` from the registry (recovery does, once it is empty)."""
    _record(ledger_dir).unlink(missing_ok=True)


def _record(ledger_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(ledger_dir).resolve()).encode()).hexdigest()[:20]
    return root() / "ledgers" / f"{digest}.json"
