"""The verdict of one experiment, read from its Chaos Toolkit journal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday.faultwindows import FaultWindow, fault_windows, timestamp


@dataclass
class Verdict:
    """What a person and a CI job need to know about one run."""

    experiment: str
    title: str
    status: str
    deviated: bool
    exit_code: int
    run_dir: Path
    duration_s: float | None = None
    recovery_s: float | None = None
    unmet: list[dict[str, Any]] = field(default_factory=list)
    failed_actions: list[dict[str, Any]] = field(default_factory=list)
    refused: str | None = None
    fault_windows: list[FaultWindow] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    not_judged: list[dict[str, Any]] = field(default_factory=list)
    interrupted_by: dict[str, Any] | None = None
    measurement_problems: list[dict[str, Any]] = field(default_factory=list)
    journal_file: Path | None = None

    @property
    def outcome(self) -> str:
        if self.status == "not run":
            return "not run"
        if self.refused:
            return "refused"
        if self.status == "completed":
            return "deviated" if self.deviated else "passed"
        return self.status

    @property
    def name(self) -> str:
        return Path(self.experiment).stem

    def first_failure(self) -> str:
        """The first failed expectation with observed vs tolerance (or why it failed)."""
        for item in self.unmet:
            if "expected" in item:
                return f"{item['name']}: expected {item['expected']}; observed {item['observed']}"
            return f"{item['name']}: {item.get('reason', 'failed')}"
        for item in self.failed_actions:
            return f"action {item['name']} failed: {item['reason']}"
        if self.interrupted_by:
            return f"interrupted: {self.interrupted_by.get('reason')}"
        return self.refused or ""

    @property
    def journal(self) -> Path:
        return self.journal_file or self.run_dir / "journal.json"

    @property
    def locust_report(self) -> Path:
        return self.run_dir / "locust" / "report.html"

    def summary(self) -> str:
        parts = [f"{self.outcome.upper()}: {self.title}"]
        if self.interrupted_by:
            stop = self.interrupted_by
            parts.append(f"stopped by {stop.get('safeguard') or 'a signal'}: {stop.get('reason')}")
        if self.recovery_s is not None:
            parts.append(f"recovered in {self.recovery_s:.1f} s")
        for item in self.unmet:
            said = (
                f"expected {item['expected']}, observed {item['observed']}"
                if "expected" in item
                else item["reason"]
            )
            parts.append(f"unmet: {item['name']}: {said}")
        for item in self.failed_actions:
            parts.append(f"action failed: {item['name']}: {item['reason']}")
        for item in self.not_judged:
            parts.append(f"not judged: {item['name']}: {item['reason']}")
        for item in self.measurement_problems:
            parts.append(f"measurement: {item['name']}: {item['note']}")
        if self.refused:
            parts.append(self.refused)
        return "; ".join(parts)


def not_run(experiment: Path, run_dir: Path, reason: str) -> Verdict:
    """The verdict of an experiment the session did not reach."""
    title = experiment.stem
    try:
        title = json.loads(experiment.read_text()).get("title", title)
    except (OSError, json.JSONDecodeError):
        pass
    return Verdict(str(experiment), title, "not run", False, 0, run_dir, refused=reason or None)


def read_verdict(
    run_dir: Path, experiment: Path, exit_code: int, journal_file: Path | None = None
) -> Verdict:
    """Build the verdict from ``run_dir/journal.json`` (or ``journal_file``; absent: the run
    crashed)."""
    try:
        journal = json.loads((journal_file or run_dir / "journal.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return Verdict(str(experiment), experiment.stem, "crashed", False, exit_code, run_dir)
    facts = journal.get("coffee_chaos", {})
    return Verdict(
        experiment=str(experiment),
        title=journal.get("experiment", {}).get("title", experiment.stem),
        status=journal.get("status", "unknown"),
        deviated=bool(journal.get("deviated")),
        exit_code=exit_code,
        run_dir=run_dir,
        duration_s=journal.get("duration"),
        recovery_s=_recovery_seconds(journal),
        unmet=facts.get("unmet_expectations", []),
        failed_actions=facts.get("failed_actions", []),
        refused=facts.get("refused"),
        fault_windows=fault_windows(journal),
        started=timestamp(journal.get("start")),
        ended=timestamp(journal.get("end")),
        not_judged=facts.get("not_judged", []),
        interrupted_by=facts.get("interrupted_by"),
        measurement_problems=facts.get("measurement_problems", []),
        journal_file=journal_file,
    )


def _recovery_seconds(journal: dict[str, Any]) -> float | None:
    """From the start of the revert (the activity before ``time_to_recover`` that resolved
    a fault) to the API ready and an order acknowledged: the revert itself (a dependency
    starting) is part of the time to recover, not only the wait after it."""
    runs = journal.get("run", [])
    for index, run in enumerate(runs):
        if _func(run) == "time_to_recover" and run.get("status") == "succeeded":
            output = run.get("output")
            if isinstance(output, dict):
                output = output.get("seconds")
            if isinstance(output, int | float):
                return round(float(output) + _revert_seconds(runs[:index]), 3)
    return None


def _revert_seconds(earlier: list[dict[str, Any]]) -> float:
    for run in reversed(earlier):
        output = run.get("output")
        if isinstance(output, dict) and output.get("reverts"):
            start, end = timestamp(run.get("start")), timestamp(run.get("end"))
            return max(end - start, 0.0) if start is not None and end is not None else 0.0
    return 0.0


def _func(run: dict[str, Any]) -> str | None:
    return run.get("activity", {}).get("provider", {}).get("func")
