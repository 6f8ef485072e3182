"""The fault ledger: every injected fault, recorded durably before it is injected.

One JSON file per entry in ``target.ledger_dir``, written atomically (temporary
file, fsync, rename, fsync of the directory), so an entry survives a SIGKILL of
the process that recorded it. ``recover`` reverts whatever the ledger holds.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gameday.errors import LedgerError
from gameday.target import Target

__all__ = ["REVERTERS", "Ledger", "LedgerError", "ledger_for", "recover"]

REVERTERS = {
    "service": "gameday.services:revert",
    "toxic": "gameday.netfault:revert",
    "qdisc": "gameday.netfault:revert",
    "networkchaos": "gameday.chaosmesh:revert",
    "locust": "gameday.locustrun:revert",
    "seed": "gameday.seed:revert",
    "override": "gameday.overrides:revert",
}
SUFFIX = ".json"


class Ledger:
    """The open faults of one target, one file per entry."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def record(self, kind: str, subject: str, revert: dict, note: str = "") -> str:
        """Write an entry durably BEFORE the fault is injected; return its id."""
        if kind not in REVERTERS:
            known = ", ".join(sorted(REVERTERS))
            raise LedgerError(f"unknown fault kind {kind!r}: the ledger knows {known}")
        self.directory.mkdir(parents=True, exist_ok=True)
        entry_id = f"{time.time_ns()}-{kind}-{uuid.uuid4().hex[:8]}"
        entry = {
            "id": entry_id,
            "kind": kind,
            "subject": subject,
            "revert": revert,
            "note": note,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pid": os.getpid(),
        }
        tmp = self.directory / f".{entry_id}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path(entry_id))
        self._sync_directory()
        return entry_id

    def resolve(self, entry_id: str) -> None:
        """Forget a reverted entry; resolving an absent entry is a no-op."""
        try:
            self._path(entry_id).unlink()
        except FileNotFoundError:
            return
        self._sync_directory()

    def entries(self) -> list[dict]:
        """The open entries, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                continue  # resolved meanwhile by another process
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise LedgerError(
                    f"ledger entry {path} is unreadable ({exc}): revert that fault by hand, "
                    "then delete the file"
                ) from None
        return found

    def _path(self, entry_id: str) -> Path:
        if not entry_id or "/" in entry_id or entry_id.startswith("."):
            raise LedgerError(f"invalid ledger entry id {entry_id!r}")
        return self.directory / f"{entry_id}{SUFFIX}"

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ledger_for(target: Target) -> Ledger:
    """The ledger of ``target`` (in its state directory)."""
    return Ledger(target.ledger_dir)


def recover(target: Target) -> list[dict]:
    """Revert every open fault; raise LedgerError listing those that could not be."""
    ledger = ledger_for(target)
    reverted: list[dict[str, Any]] = []
    failures: list[str] = []
    for entry in ledger.entries():
        label = f"{entry.get('kind')} {entry.get('subject')!r} ({entry.get('id')})"
        try:
            result = _reverter(entry.get("kind", ""))(entry, target)
        except Exception as exc:  # every entry gets its chance; failures are listed below
            failures.append(f"{label}: {exc}")
            continue
        ledger.resolve(entry["id"])
        reverted.append(
            {
                "id": entry["id"],
                "kind": entry["kind"],
                "subject": entry["subject"],
                "result": result,
            }
        )
    if failures:
        raise LedgerError(
            f"could not revert {len(failures)} fault(s) of the ledger {ledger.directory}: "
            + "; ".join(failures)
            + ". Fix the cause and run `gameday recover` again"
        )
    return reverted


def _reverter(kind: str):
    try:
        module_name, function = REVERTERS[kind].split(":")
    except KeyError:
        raise LedgerError(
            f"no reverter for fault kind {kind!r}: known kinds are {', '.join(sorted(REVERTERS))}"
        ) from None
    return getattr(importlib.import_module(module_name), function)
