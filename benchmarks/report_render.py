"""Size of a 10-experiment game-day report and how long headless Chromium takes to render it.

Takes the runs of a game-day session (default: the newest runs/gameday-*), repeats them
up to 10 experiments in a scratch directory, writes the report, then opens it in headless
Chromium with the network off, 5 times. Prints the page's size (goal: under 2 MB), the
render times (navigation to the load event; goal: under 2 s) and the print-to-PDF size.
No lab needed: the server series come from each run's server-series.json. With
``--stretch-s N`` each run's load seconds and server series are repeated to last N
seconds (the size of a game day at full defaults: ``--stretch-s 7200`` is ten soaks).

    .venv/bin/python benchmarks/report_render.py [runs/gameday-...] [--experiments 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameday.plan import Plan  # noqa: E402
from gameday.report import ReportInput, write_report  # noqa: E402
from gameday.score import score  # noqa: E402
from gameday.session import STATE_FILE  # noqa: E402
from gameday.verdict import read_verdict  # noqa: E402
from tests import chromium  # noqa: E402

KEPT = ("journal.json", "server-series.json", "baseline.json", "vars.yaml", "locust/live.jsonl")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("session", nargs="?", help="a session directory (runs/gameday-...)")
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--stretch-s", type=int, default=0, help="make each run last N s")
    args = parser.parse_args()
    source = Path(args.session) if args.session else newest()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as scratch:
        page = build(source, Path(scratch), args.experiments, args.stretch_s)
        size = page.stat().st_size
        times, pdf = render(page, args.trials)
    each = f", each stretched to {args.stretch_s} s" if args.stretch_s else ""
    print(f"report of {args.experiments} experiments (from {source}{each}): {size / 1e6:.2f} MB")
    print(f"headless Chromium, navigation to load event, {args.trials} trials:")
    print("  " + ", ".join(f"{t:.3f}" for t in times) + " s")
    print(f"  median {statistics.median(times):.3f} s, worst {max(times):.3f} s (goal < 2 s)")
    print(f"print to PDF: {pdf / 1e3:.0f} kB")
    return 0 if size < 2e6 and max(times) < 2 else 1


def newest() -> Path:
    found = sorted(p.parent for p in Path("runs").glob(f"gameday-*/{STATE_FILE}"))
    if not found:
        sys.exit("no game-day session under runs/: run `make gameday GAMEDAY=plans/quick.yaml`")
    return found[-1]


def build(source: Path, scratch: Path, count: int, stretch_s: int = 0) -> Path:
    """The session's runs, repeated up to ``count`` (each stretched to ``stretch_s``), and
    their report."""
    runs = sorted(p for p in source.iterdir() if (p / "journal.json").exists())
    if not runs:
        sys.exit(f"{source} holds no run with a journal")
    verdicts = []
    for index in range(count):
        original = runs[index % len(runs)]
        copy = scratch / f"{index + 1:02d}-{original.name.split('-', 1)[1]}"
        for name in KEPT:
            if (original / name).exists():
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(original / name, copy / name)
        if stretch_s:
            stretch(copy, stretch_s)
        verdicts.append(read_verdict(copy, Path(f"{copy.name}.json"), 0))
    plan = Plan.from_dict(json.loads((source / STATE_FILE).read_text())["plan"])
    return write_report(
        scratch,
        ReportInput(
            title=f"{plan.title} (x{count})",
            verdicts=verdicts,
            score=score(verdicts, [1.0] * count),
            target={"api_url": "http://127.0.0.1:8005"},
            prometheus_url="http://127.0.0.1:9",  # never asked: each run keeps its series
            operators=plan.operators,
            plan=plan.source,
        ),
    )


def stretch(run: Path, seconds: int) -> None:
    """Repeat the run's load seconds and server series until they last ``seconds``."""
    live = run / "locust" / "live.jsonl"
    records = [json.loads(line) for line in live.read_text().splitlines() if line.strip()]
    t0 = records[0]["t"]
    with open(live, "w") as out:
        for k in range(seconds):
            out.write(json.dumps({**records[k % len(records)], "t": t0 + k}) + "\n")
    journal = json.loads((run / "journal.json").read_text())
    journal["end"] = datetime.fromtimestamp(t0 + seconds, UTC).isoformat()
    (run / "journal.json").write_text(json.dumps(journal))
    server_file = run / "server-series.json"
    if server_file.exists():
        server = json.loads(server_file.read_text())
        step = server["t"][1] - server["t"][0] if len(server["t"]) > 1 else 5
        times = list(range(server["t"][0], t0 + seconds, step))
        for panel in server["panels"]:
            for name, values in panel["series"].items():
                panel["series"][name] = [values[i % len(values)] for i in range(len(times))]
        server_file.write_text(json.dumps({**server, "t": times}))


def render(page: Path, trials: int) -> tuple[list[float], int]:
    times, pdf = [], 0
    for _ in range(trials):
        browser = chromium.Page()
        try:
            times.append(browser.load(page))
            pdf = len(browser.pdf())
        finally:
            browser.close()
    return times, pdf


if __name__ == "__main__":
    sys.exit(main())
