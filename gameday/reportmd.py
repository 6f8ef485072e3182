"""The text form of the game-day report (``report.md``): header, score, verdict table."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gameday.report import ReportInput

__all__ = ["markdown"]


def markdown(report: ReportInput, rows: list[dict[str, str]]) -> str:
    """The report as Markdown; ``rows`` are the verdict table's."""
    score = "-" if report.score.value is None else f"{report.score.value:g}"
    lines = [
        f"# {report.title}",
        "",
        f"- plan: {report.plan or 'experiments given on the command line'}",
        f"- target: {report.target.get('api_url', '?')}",
        *(
            [f"- components: {report.target['components']}"]
            if "components" in report.target
            else []
        ),
        f"- start: {_when(report.started)}; end: {_when(report.ended)}",
        *[f"- {key}: {text}" for key, text in report.operators.items()],
        *([f"- stopped: {report.stopped}"] if report.stopped else []),
        f"- resilience score: **{score}** / 100 ({report.score.how})",
        *[f"  - left out: {e['name']} ({e['outcome']}: {e['why']})" for e in report.score.excluded],
        "",
        "| experiment | verdict | first failed expectation | time to recover | outage (load) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [row["title"], row["verdict"], row["first_failure"], row["recovery"], row["outage"]]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    lines += ["", *_regressions(report.comparison)]
    return "\n".join(lines) + "\n"


def _regressions(comparison: dict[str, dict[str, Any]]) -> list[str]:
    found = [
        f"- REGRESSION {name}: {key} {c['before']:g} -> {c['now']:g} {c['unit']}"
        for name, compared in comparison.items()
        for key, c in compared.get("figures", {}).items()
        if c["regression"]
    ]
    return ["## Regressions since the last session", "", *found, ""] if found else []


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment)) if moment else "-"
