"""After a session: its report, JUnit XML and line in the history; and the report of any run.

``session_report`` scores the session, compares it with the last one on the same
target (``runs/history.jsonl``), appends it there, writes ``report.html``/``report.md``
and, if asked, the JUnit XML. ``run_report`` renders the same page for any
``chaos run`` journal (a run directory or the journal itself), scored on its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gameday import history, serverseries
from gameday.errors import GamedayError
from gameday.junit import write_junit
from gameday.report import ReportInput, write_report
from gameday.score import score
from gameday.session import Session
from gameday.target import DEFAULT_TARGET_FILE, TARGET_ENV, Target
from gameday.verdict import read_verdict

__all__ = ["run_report", "session_report"]

HISTORY_FILE = "history.jsonl"


def session_report(session: Session, runs_dir: Path, junit: Path | None = None) -> Path:
    """Score, compare, record and report ``session``; return the page."""
    verdicts = session.verdicts
    result = score(verdicts, [e.weight for e in session.plan.experiments])
    ran = {v.name: history.figures(v) for v in verdicts if v.outcome != "not run"}
    path = runs_dir / HISTORY_FILE
    comparison = history.compare(path, session.target.api_url, session.directory.name, ran)
    history.append(
        path,
        {
            "session": session.directory.name,
            "target": session.target.api_url,
            "plan": session.plan.source or session.plan.title,
            "score": result.value,
            "experiments": ran,
        },
    )
    page = write_report(
        session.directory,
        ReportInput(
            title=session.plan.title,
            verdicts=verdicts,
            score=result,
            target=_target_facts(session.target),
            prometheus_url=session.target.prometheus_url,
            operators=session.plan.operators,
            plan=session.plan.source,
            started=session.started,
            ended=session.ended,
            stopped=session.stopped,
            comparison=comparison,
        ),
    )
    if junit is not None:
        write_junit(junit, session.plan.title, verdicts, result)
    return page


def run_report(path: Path, target: Target) -> Path:
    """The report of one ``chaos run`` (its directory, or its journal.json), written beside
    the journal; the load's files are read from the run directory the journal names."""
    journal_file = path if path.is_file() else path / "journal.json"
    try:
        journal = json.loads(journal_file.read_text())
    except FileNotFoundError:
        raise GamedayError(
            f"no journal at {journal_file}: give a run directory or the journal.json of a "
            "`chaos run` (--journal-path)"
        ) from None
    except json.JSONDecodeError as exc:
        raise GamedayError(f"{journal_file} is not valid JSON: {exc}") from None
    named = (journal.get("coffee_chaos") or {}).get("run_dir")
    run_dir = Path(named) if named and Path(named).is_dir() else journal_file.parent
    code = 1 if journal.get("deviated") or journal.get("status") != "completed" else 0
    verdict = read_verdict(run_dir, Path(run_dir.name), code, journal_file=journal_file)
    title = journal.get("experiment", {}).get("title", run_dir.name)
    return write_report(
        journal_file.parent,
        ReportInput(
            title=title,
            verdicts=[verdict],
            score=score([verdict], [1.0]),
            target=_target_facts(target),
            prometheus_url=target.prometheus_url,
            started=verdict.started,
            ended=verdict.ended,
        ),
    )


def _target_facts(target: Target) -> dict[str, Any]:
    facts: dict[str, Any] = {"api_url": target.api_url}
    try:
        raw = json.loads(Path(os.environ.get(TARGET_ENV) or DEFAULT_TARGET_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        raw = {}
    deployment = raw.get("deployment") or {}
    if deployment:
        facts["deployment"] = (
            f"deployment {str(deployment.get('stamp', ''))[:12]} of {deployment.get('deployed_at', '?')}"
        )
    components = serverseries.versions(target.prometheus_url)
    if components:
        facts["components"] = "; ".join(f"{name} {seen}" for name, seen in components.items())
    return facts
