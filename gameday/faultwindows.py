"""Fault windows of a run, read from the marks its fault actions left in the journal.

A fault action's result carries ``fault`` (the ledger entry it recorded) and a revert's
``reverts`` (the entries it resolved): see ``controls.marks``. A window opens when its
entry was recorded and closes when an activity (method or rollback) resolved it; one
reverted by the safety control at the end of the run (``coffee_chaos.recovered``), or
never, closes at the journal's end. An action that makes and reverts its faults itself
(``outages`` in its result: flapping, a crash under a restart policy) gives one window per
outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["FaultWindow", "fault_windows", "timestamp"]

VERBS = {"service": "down", "toxic": "network fault", "qdisc": "netem", "seed": "seeded"}


@dataclass
class FaultWindow:
    """One fault, from its ledger record to its revert (Unix seconds)."""

    kind: str
    subject: str
    note: str
    ledger_id: str
    start: float
    end: float
    reverted_by: str

    @property
    def label(self) -> str:
        """A short label: ``redis down``, ``postgresql network fault (latency)``."""
        verb = VERBS.get(self.kind, self.kind)
        detail = _detail(self.note)
        return f"{self.subject} {verb}" + (f" ({detail})" if detail else "")


def fault_windows(journal: dict[str, Any]) -> list[FaultWindow]:
    """Every fault window of the run, in the order the faults were made."""
    opened: dict[str, dict[str, Any]] = {}
    closed: dict[str, tuple[float, str]] = {}
    for run in [*journal.get("run", []), *(journal.get("rollbacks") or [])]:
        output = run.get("output")
        if not isinstance(output, dict):
            continue
        name = run.get("activity", {}).get("name", "?")
        fault = output.get("fault")
        if isinstance(fault, dict) and fault.get("ledger_id"):
            opened.setdefault(fault["ledger_id"], fault)
        for revert in output.get("reverts") or []:
            closed.setdefault(revert["ledger_id"], (revert["at"], name))
    end = timestamp(journal.get("end")) or 0.0
    windows = [w for run in journal.get("run", []) for w in _outages(run)]
    for ledger_id, fault in opened.items():
        until, by = closed.get(ledger_id, (end, _backstop(journal, ledger_id)))
        windows.append(
            FaultWindow(
                fault.get("kind", "?"),
                fault.get("subject", "?"),
                fault.get("note", ""),
                ledger_id,
                float(fault["at"]),
                float(max(until, fault["at"])),
                by,
            )
        )
    return sorted(windows, key=lambda w: w.start)


def _outages(run: dict[str, Any]) -> list[FaultWindow]:
    """The outages an action made and reverted itself (a flapping service, a crash under a
    restart policy): each kill to the service's return, as the action recorded them."""
    output = run.get("output")
    if not isinstance(output, dict) or not isinstance(output.get("outages"), list):
        return []
    name = run.get("activity", {}).get("name", "?")
    return [
        FaultWindow(
            "service",
            str(output.get("service", "?")),
            "killed (SIGKILL), then started again",
            f"{name}-{number}",
            float(outage["killed_at"]),
            float(outage["back_at"]),
            name,
        )
        for number, outage in enumerate(output["outages"], 1)
    ]


def timestamp(value: str | None) -> float | None:
    """Unix seconds of a journal time (naive times are UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _backstop(journal: dict[str, Any], ledger_id: str) -> str:
    recovered = (journal.get("coffee_chaos") or {}).get("recovered") or []
    if any(entry.get("id") == ledger_id for entry in recovered):
        return "the safety control, at the end of the run"
    return "not reverted during the run"


def _detail(note: str) -> str:
    """The gist of a ledger note: the toxic's kind, the signal."""
    for word in ("latency", "timeout", "reset", "SIGKILL", "stopped", "override", "cache"):
        if word.lower() in note.lower():
            return word if word != "stopped" else "stop"
    return ""
