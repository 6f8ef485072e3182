"""The game-day report: one self-contained ``report.html`` and its text form ``report.md``.

The page holds everything it shows (inline CSS, SVG and a few lines of script; no
font, image or script from elsewhere), so it opens offline, survives an e-mail and
prints to PDF. It has the session header with the resilience score and how it was
computed, the verdict table, and per experiment one time axis (``gameday.svgchart``),
its expectations, its hypothesis before and after, what changed since the last session
and its evidence (relative links).
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday import reportdata, reportmd, svgchart
from gameday.score import Score
from gameday.verdict import Verdict

__all__ = ["ReportInput", "write_report"]

EVIDENCE = [
    ("journal", "journal.json"),
    ("Locust report", "locust/report.html"),
    ("chaos output", "chaos.out"),
    ("Chaos Toolkit log", "chaostoolkit.log"),
    ("Locust log", "locust/locust.log"),
    ("load per second", "locust/live.jsonl"),
    ("baseline window", "baseline.json"),
    ("server series", reportdata.SERVER_FILE),
]
STYLE = """
body{overflow-wrap:anywhere;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1040px;color:#222}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 6px;border-top:2px solid #ddd;padding-top:14px}
h3{font-size:15px;margin:14px 0 4px}table{border-collapse:collapse;margin:6px 0;width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f3f3}.verdicts td:nth-child(-n+2),.verdicts td:nth-child(n+4),th{white-space:nowrap}.passed{color:#1b5e20;font-weight:bold}.deviated,.unmet,.regression{color:#b71c1c;font-weight:bold}
.failed,.crashed,.interrupted,.refused{color:#e65100;font-weight:bold}.muted{color:#777}
.score{font-size:40px;font-weight:bold}.header td{border:none;padding:1px 10px 1px 0}
#tip{position:absolute;display:none;background:#fff;border:1px solid #888;padding:4px 6px;font-size:12px;pointer-events:none;box-shadow:0 1px 4px #0003}
section.experiment{break-inside:auto}svg.timeline{break-inside:avoid;display:block}
@media print{body{margin:0;max-width:none}#tip{display:none!important}h2{break-before:page}}
"""


@dataclass
class ReportInput:
    """What the page says besides the experiments' own evidence."""

    title: str
    verdicts: list[Verdict]
    score: Score
    target: dict[str, Any]
    prometheus_url: str
    operators: dict[str, str] = field(default_factory=dict)
    plan: str | None = None
    started: float | None = None
    ended: float | None = None
    stopped: str = ""
    comparison: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_report(directory: Path, report: ReportInput) -> Path:
    """Write ``report.html`` and ``report.md`` into ``directory``; return the page."""
    sections, rows = [], []
    for index, verdict in enumerate(report.verdicts, start=1):
        journal = reportdata.load_journal(verdict)
        chart = (
            reportdata.chart_inputs(verdict, journal, report.prometheus_url) if journal else None
        )
        rows.append(_row(directory, verdict, chart))
        sections.append(_section(directory, index, verdict, journal, chart, report))
    page = directory / "report.html"
    page.write_text(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(report.title)}</title><style>{STYLE}</style>"
        + _header(report)
        + _table(rows)
        + "".join(sections)
        + f'<div id="tip"></div><script>{svgchart.HOVER_SCRIPT}</script></html>'
    )
    (directory / "report.md").write_text(reportmd.markdown(report, rows))
    return page


def _header(report: ReportInput) -> str:
    score = report.score
    value = "-" if score.value is None else f"{score.value:g}"
    facts = [
        ("plan", report.plan or "experiments given on the command line"),
        ("target", report.target.get("api_url", "?")),
        ("café", report.target.get("deployment", "") or "version not known"),
        ("components", report.target.get("components", "") or "versions not known"),
        ("start", _when(report.started)),
        ("end", _when(report.ended)),
        *[(key, text) for key, text in report.operators.items()],
    ]
    if report.stopped:
        facts.append(("stopped", report.stopped))
    excluded = "".join(
        f"<li>{html.escape(e['name'])}: {html.escape(e['outcome'])} ({html.escape(e['why'])})</li>"
        for e in score.excluded
    )
    return (
        f"<h1>{html.escape(report.title)}</h1><table class=header>"
        + "".join(f"<tr><td><b>{k}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
        + f'</table><p><span class="score">{value}</span> resilience score (0-100)</p>'
        f'<p class="muted">{html.escape(score.how)}.</p>'
        + (f"<p>Left out of the score:</p><ul>{excluded}</ul>" if excluded else "")
    )


def _row(directory: Path, verdict: Verdict, chart: dict[str, Any] | None) -> dict[str, str]:
    client = chart["client"] if chart else None
    start = verdict.fault_windows[0].start if verdict.fault_windows else None
    outage = reportdata.clientseries.outage(client, start) if client else None
    return {
        "experiment": verdict.name,
        "title": verdict.title,
        "verdict": verdict.outcome,
        "first_failure": verdict.first_failure(),
        "recovery": f"{verdict.recovery_s:.1f} s" if verdict.recovery_s is not None else "-",
        "outage": f"{outage['seconds']} s" if outage else "-",
        "link": f"#{verdict.name}",
    }


def _table(rows: list[dict[str, str]]) -> str:
    head = "<tr><th>experiment</th><th>verdict</th><th>first failed expectation (observed vs tolerance)</th><th>time to recover</th><th>outage</th></tr>"
    body = "".join(
        f'<tr><td><a href="{r["link"]}">{html.escape(r["experiment"])}</a></td>'
        f'<td class="{r["verdict"].replace(" ", "-")}">{r["verdict"]}</td>'
        f"<td>{html.escape(r['first_failure'])}</td><td>{r['recovery']}</td><td>{r['outage']}</td></tr>"
        for r in rows
    )
    return (
        f'<h2>Verdicts</h2><table class="verdicts">{head}{body}</table><p class="muted">Time '
        "to recover: from the start of the revert until /readyz answers 200 and an order is "
        "acknowledged. Outage: as the load saw it, from the first failed answer after the "
        "fault began to the end of the last second with a failed answer.</p>"
    )


def _section(directory, index, verdict, journal, chart, report) -> str:
    parts = [
        f'<section class="experiment" id="{verdict.name}"><h2>{index}. {html.escape(verdict.title)} '
        f'<span class="{verdict.outcome.replace(" ", "-")}">{verdict.outcome}</span></h2>'
        f'<p class="muted">{html.escape(verdict.experiment)}</p>'
    ]
    if chart:
        svg, data = svgchart.timeline(
            f"chart-{index}", chart["span"], chart["panels"], chart["faults"], chart["marks"]
        )
        parts.append(svg + svgchart.data_script(data))
        parts.append(_faults(chart))
        if chart["problems"]:
            parts.append(
                f'<p class="muted">Prometheus: {html.escape("; ".join(chart["problems"]))}</p>'
            )
    else:
        parts.append(
            f"<p>No run to chart: {html.escape(verdict.first_failure() or verdict.outcome)}</p>"
        )
    parts.append(_pictures(verdict))
    if journal:
        parts.append(_expectations(reportdata.expectations(journal)))
        parts.append(_hypothesis(reportdata.hypothesis(journal, verdict.run_dir)))
    parts.append(_comparison(report.comparison.get(verdict.name)))
    parts.append(_evidence(directory, verdict))
    return "".join(parts) + "</section>"


def _pictures(verdict: Verdict) -> str:
    """A soak's figures, inlined (the page links no image)."""
    picture = verdict.run_dir / "soak" / "soak.png"
    if not picture.exists():
        return ""
    encoded = base64.b64encode(picture.read_bytes()).decode()
    return f'<h3>Soak</h3><img alt="soak figures" style="max-width:100%" src="data:image/png;base64,{encoded}">'


def _faults(chart: dict[str, Any]) -> str:
    if not chart["faults"]:
        return '<p class="muted">No fault recorded in the ledger during this run.</p>'
    t0 = chart["span"][0]
    items = "".join(
        f"<li>+{f['start'] - t0:.1f} s to +{f['end'] - t0:.1f} s: {html.escape(f['title'])}</li>"
        for f in chart["faults"]
    )
    return f"<h3>Fault windows (from the fault ledger)</h3><ul>{items}</ul>"


def _expectations(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td>{html.escape(str(r["name"]))}</td><td class="{r["result"].replace(" ", "-")}">{r["result"]}</td>'
        f"<td>{html.escape(str(r['expected']))}</td><td>{html.escape(str(r['observed']))}</td>"
        f"<td>{html.escape(r['bound'])}</td></tr>"
        for r in rows
    )
    head = "<tr><th>expectation</th><th>result</th><th>expected</th><th>observed</th><th>bound from the baseline</th></tr>"
    return f"<h3>Method expectations</h3><table>{head}{body}</table>"


def _hypothesis(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{r['when']}</td><td>{html.escape(str(r['name']))}</td><td>{html.escape(r['tolerance'])}</td>"
        f'<td>{html.escape(r["observed"])}</td><td class="{"passed" if r["met"] else "unmet"}">'
        f"{'met' if r['met'] else 'not met' if r['met'] is False else '-'}</td></tr>"
        for r in rows
    )
    head = "<tr><th>when</th><th>probe</th><th>tolerance</th><th>observed</th><th></th></tr>"
    return f"<h3>Steady-state hypothesis, before and after</h3><table>{head}{body}</table>"


def _comparison(compared: dict[str, Any] | None) -> str:
    if not compared:
        return ""
    if not compared["previous"]:
        return '<p class="muted">No earlier session on this target ran this experiment.</p>'
    rows = "".join(
        f"<tr><td>{key}</td><td>{c['before']:g} {c['unit']}</td><td>{c['now']:g} {c['unit']}</td>"
        f"<td>{_pct(c)}</td>"
        f'<td class="{"regression" if c["regression"] else ""}">{"REGRESSION" if c["regression"] else ""}</td></tr>'
        for key, c in compared["figures"].items()
    )
    return (
        f"<h3>Since the last session ({html.escape(compared['previous'])})</h3>"
        f"<table><tr><th>figure</th><th>then</th><th>now</th><th>change</th><th></th></tr>{rows}</table>"
    )


def _pct(change: dict[str, Any]) -> str:
    return "" if change["change_pct"] is None else f"{change['change_pct']:+g} %"


def _evidence(directory: Path, verdict: Verdict) -> str:
    links = []
    for label, name in EVIDENCE:
        path = verdict.journal if name == "journal.json" else verdict.run_dir / name
        if path.exists():
            path, directory = path.resolve(), directory.resolve()
            href = path.relative_to(directory) if path.is_relative_to(directory) else path
            links.append(f'<li><a href="{html.escape(str(href))}">{label}</a></li>')
    return f"<h3>Evidence</h3><ul>{''.join(links)}</ul>" if links else ""


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment)) if moment else "-"
