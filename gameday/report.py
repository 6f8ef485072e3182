"""The session report: a verdict table and, per experiment, its timeline (and a soak's figures)."""

from __future__ import annotations

import html
from pathlib import Path

from gameday import livestats
from gameday.verdict import Verdict


def write_report(directory: Path, verdicts: list[Verdict]) -> Path:
    """Write ``report.md`` and ``report.html`` (with timelines) into ``directory``."""
    for verdict in verdicts:
        live = next(verdict.run_dir.rglob("live.jsonl"), None)
        if live is not None:
            timeline(live, verdict, verdict.run_dir / "timeline.png")
    (directory / "report.md").write_text(_markdown(directory, verdicts))
    page = directory / "report.html"
    page.write_text(_html(directory, verdicts))
    return page


def timeline(live: Path, verdict: Verdict, picture: Path) -> Path | None:
    """Requests/s, failures/s and P99 per second, the fault window shaded."""
    seconds = _per_second(live)
    if not seconds:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = seconds[0][0]
    xs = [t - start for t, _, _, _ in seconds]
    fig, (rate, latency) = plt.subplots(2, 1, sharex=True, figsize=(9, 5))
    rate.plot(xs, [ok for _, ok, _, _ in seconds], label="answered/s", color="tab:green")
    rate.plot(xs, [bad for _, _, bad, _ in seconds], label="failed/s", color="tab:red")
    rate.set_ylabel("requests/s")
    latency.plot(xs, [p99 for _, _, _, p99 in seconds], label="P99", color="tab:blue")
    latency.set_ylabel("P99 (ms)")
    latency.set_xlabel("seconds since load start")
    for window in verdict.fault_windows:
        for axis in (rate, latency):
            axis.axvspan(window.start - start, window.end - start, color="tab:orange", alpha=0.2)
    rate.legend(loc="upper right")
    fig.suptitle(f"{verdict.title}: {verdict.outcome}")
    fig.tight_layout()
    fig.savefig(picture, dpi=90)
    plt.close(fig)
    return picture


def pictures(verdict: Verdict) -> list[Path]:
    """The pictures of an experiment's run: its timeline, and a soak's figures."""
    candidates = (verdict.run_dir / "timeline.png", verdict.run_dir / "soak" / "soak.png")
    return [picture for picture in candidates if picture.exists()]


def _per_second(live: Path) -> list[tuple[int, int, int, float]]:
    rows = []
    for second in livestats.read_seconds(live):
        merged = livestats.merge([second])
        p99 = livestats.percentile(merged["hist"], 0.99) or 0.0
        rows.append((second["t"], merged["count"] - merged["failures"], merged["failures"], p99))
    return rows


def _rows(directory: Path, verdicts: list[Verdict]) -> list[list[str]]:
    rows = []
    for v in verdicts:
        recovery = f"{v.recovery_s:.1f} s" if v.recovery_s is not None else "-"
        duration = f"{v.duration_s:.0f} s" if v.duration_s is not None else "-"
        notes = "; ".join(
            [f"{u['name']}: {u['reason']}" for u in v.unmet]
            + [f"action {a['name']}: {a['reason']}" for a in v.failed_actions]
            + ([v.refused] if v.refused else [])
        )
        rows.append(
            [v.title, v.outcome, recovery, duration, str(v.run_dir.relative_to(directory)), notes]
        )
    return rows


HEADERS = ["experiment", "verdict", "recovery", "duration", "evidence", "notes"]


def _markdown(directory: Path, verdicts: list[Verdict]) -> str:
    lines = ["# Game day report", "", "| " + " | ".join(HEADERS) + " |"]
    lines.append("|" + " --- |" * len(HEADERS))
    for row in _rows(directory, verdicts):
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    lines.append("")
    for v in verdicts:
        for picture in pictures(v):
            lines.append(f"![{v.title}]({picture.relative_to(directory)})")
    return "\n".join(lines) + "\n"


def _html(directory: Path, verdicts: list[Verdict]) -> str:
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in _rows(directory, verdicts)
    )
    sections = "".join(
        f"<h2>{html.escape(v.title)}</h2>"
        + "".join(f'<img src="{picture.relative_to(directory)}">' for picture in pictures(v))
        + (
            f' <p><a href="{v.locust_report.relative_to(directory)}">Locust report</a></p>'
            if v.locust_report.exists()
            else ""
        )
        for v in verdicts
        if pictures(v)
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Game day report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
        "table{border-collapse:collapse}</style>"
        f"<h1>Game day report</h1><table><tr>{head}</tr>{body}</table>{sections}"
    )
