"""The fault ledger: every injected fault, recorded durably before it is injected.

One JSON file per entry in ``target.ledger_dir``, written atomically (temporary
file, fsync, rename, fsync of the directory), so an entry survives a SIGKILL of
the process that recorded it. The first entry registers the ledger in the
machine's registry (``gameday.registry``), so recovery finds every ledger.
``recover`` reverts whatever the ledger holds; a file it cannot read is moved to
``corrupt/`` (its fault must be reverted by hand) and the others are reverted.
Every reverter needs only the standard library (``gameday.recover``).
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

from gameday import faultmetrics, registry
from gameday.errors import LedgerError
from gameday.target import Target

__all__ = ["REVERTERS", "Ledger", "LedgerError", "ledger_for", "recover", "recover_report"]

REVERTERS = {
    "service": "gameday.services:revert",
    "toxic": "gameday.netfault:revert",
    "qdisc": "gameday.netfault:revert",
    "networkchaos": "gameday.chaosmesh:revert",
    "locust": "gameday.locustprocess:revert",
    "seed": "gameday.seedrevert:revert",
    "override": "gameday.overrides:revert",
    "freeze": "gameday.freeze:revert",
    "holder": "gameday.holders:revert",
    "redis_pause": "gameday.redispause:revert",
    "read_only": "gameday.readonlyrevert:revert",
    "redis_maxmemory": "gameday.redismemory:revert",
}
SUFFIX = ".json"
CORRUPT = "corrupt"


class Ledger:
    """The open faults of one target, one file per entry."""

    def __init__(self, directory: Path, target_file: Path | None = None) -> None:
        self.directory = Path(directory)
        self.target_file = target_file

    def record(self, kind: str, subject: str, revert: dict, note: str = "") -> str:
        """Write an entry durably BEFORE the fault is injected; return its id."""
        if kind not in REVERTERS:
            known = ", ".join(sorted(REVERTERS))
            raise LedgerError(f"unknown fault kind {kind!r}: the ledger knows {known}")
        try:
            registry.register(self.directory, self.target_file)
        except OSError as exc:
            raise LedgerError(
                f"cannot register the ledger {self.directory} in {registry.root()} "
                f"({exc.strerror}): nothing was injected; run as root"
            ) from None
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
        self._write(entry)
        faultmetrics.recorded(self, entry)
        return entry_id

    def update(self, entry_id: str, **revert: Any) -> None:
        """Add to an entry's revert what became known after it was recorded (a pid)."""
        entry = json.loads(self._path(entry_id).read_text(encoding="utf-8"))
        entry["revert"].update(revert)
        self._write(entry)

    def resolve(self, entry_id: str) -> None:
        """Forget a reverted entry; resolving an absent entry is a no-op."""
        try:
            self._path(entry_id).unlink()
        except FileNotFoundError:
            return
        self._sync_directory()
        faultmetrics.publish(self)

    def entries(self) -> list[dict]:
        """The open entries, oldest first (``unreadable`` lists the files that are not)."""
        return [entry for _, entry, _ in self._read() if entry is not None]

    def unreadable(self) -> list[tuple[Path, str]]:
        """The files of the ledger that hold no readable entry, and why."""
        return [(path, why) for path, entry, why in self._read() if entry is None]

    def quarantined(self) -> list[Path]:
        """Files moved to ``corrupt/``: faults nobody can revert but by hand."""
        return sorted((self.directory / CORRUPT).glob(f"*{SUFFIX}"))

    def quarantine(self) -> list[tuple[Path, str]]:
        """Move every unreadable file to ``corrupt/``; where each went, and why."""
        moved = []
        for path, why in self.unreadable():
            (self.directory / CORRUPT).mkdir(exist_ok=True)
            os.replace(path, self.directory / CORRUPT / path.name)
            moved.append((self.directory / CORRUPT / path.name, why))
        if moved:
            self._sync_directory()
        return moved

    def _read(self) -> list[tuple[Path, dict | None, str]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue  # resolved meanwhile by another process
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                found.append((path, None, f"not JSON: {exc}"))
                continue
            why = _malformed(entry)
            found.append((path, None if why else entry, why))
        return found

    def _write(self, entry: dict) -> None:
        tmp = self.directory / f".{entry['id']}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path(entry["id"]))
        self._sync_directory()

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
    return Ledger(target.ledger_dir, target.target_file)


def recover(target: Target) -> list[dict]:
    """Revert every open fault; raise LedgerError listing those that could not be, and the
    unreadable files put aside."""
    reverted, problems = recover_report(target)
    if problems:
        raise LedgerError(
            f"could not revert {len(problems)} fault(s) of the ledger {target.ledger_dir}: "
            + "; ".join(problems)
            + ". Fix the cause and run `make recover` (or `gameday recover`) again"
        )
    return reverted


def recover_report(target: Target) -> tuple[list[dict], list[str]]:
    """Quarantine unreadable files, revert every entry: (reverted, problems)."""
    ledger = ledger_for(target)
    moved = dict(ledger.quarantine())
    failures = [
        f"{path} is unreadable ({moved.get(path, 'put aside earlier')}): revert its fault by "
        "hand, then delete the file"
        for path in ledger.quarantined()
    ]
    reverted: list[dict[str, Any]] = []
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
    return reverted, failures


def _malformed(entry: Any) -> str:
    """Why ``entry`` is not a ledger entry ("" when it is one)."""
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an entry"
    missing = [key for key in ("id", "kind", "subject") if not isinstance(entry.get(key), str)]
    if missing or not isinstance(entry.get("revert"), dict):
        return f"not an entry: no {', '.join(missing or ['revert'])}"
    return ""


def _reverter(kind: str):
    try:
        module_name, function = REVERTERS[kind].split(":")
    except KeyError:
        raise LedgerError(
            f"no reverter for fault kind {kind!r}: known kinds are {', '.join(sorted(REVERTERS))}"
        ) from None
    return getattr(importlib.import_module(module_name), function)
