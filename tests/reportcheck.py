"""The Chromium check of a game day's report.html, for the tests and for a session run by hand.

Opens the page in headless Chromium with the network off and checks: nothing but the
file itself was requested, every experiment that ran has its chart, hovering a chart
shows the values under the pointer, the page prints to PDF, and in every kill-redis run
the fault window covers each second in which the load saw a 503. Takes a screenshot.

    .venv/bin/python -m tests.reportcheck runs/gameday-20261130T080259Z [--screenshot x.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tests import chromium

# The pointer over the middle of the first chart: the tooltip it shows.
HOVER = """(function () {
  var svg = document.querySelector('svg.timeline'); if (!svg) return '';
  var box = svg.getBoundingClientRect();
  svg.dispatchEvent(new MouseEvent('mousemove', {clientX: box.left + box.width / 2,
    clientY: box.top + 40, bubbles: true}));
  return document.getElementById('tip').innerHTML;
})()"""


def inspect(page_path: Path, screenshot: Path) -> dict[str, Any]:
    """What Chromium saw of the page: requests, charts' data, load time, PDF size."""
    page = chromium.Page()
    try:
        load_s = page.load(page_path)
        data = page.evaluate(
            "JSON.stringify(Array.from(document.querySelectorAll('script.chart-data'))"
            ".map(function (n) { return JSON.parse(n.textContent); }))"
        )
        sections = page.evaluate("document.querySelectorAll('section.experiment').length")
        charts = page.evaluate("document.querySelectorAll('svg.timeline').length")
        hover = page.evaluate(HOVER)
        page.screenshot(screenshot, height=1700)
        pdf = page.pdf()
        requests = page.requests()
    finally:
        page.close()
    return {
        "load_s": load_s,
        "charts": charts,
        "hover": hover,
        "sections": sections,
        "data": json.loads(data),
        "pdf": pdf,
        "requests": requests,
    }


def problems(page_path: Path, seen: dict[str, Any], expected_charts: int) -> list[str]:
    """What is wrong with the page (empty: it passes)."""
    found = []
    outside = [u for u in seen["requests"] if u != page_path.resolve().as_uri()]
    if outside:
        found.append(f"requests outside the file: {outside}")
    if seen["charts"] != expected_charts:
        found.append(f"{seen['charts']} charts for {expected_charts} experiments that ran")
    if seen["charts"] and ": " not in seen["hover"]:
        found.append(f"hovering the first chart shows no value: {seen['hover']!r}")
    if not seen["pdf"].startswith(b"%PDF"):
        found.append("the page does not print to PDF")
    for chart in seen["data"]:
        found.extend(_outside_the_fault(chart))
    return found


def _outside_the_fault(chart: dict[str, Any]) -> list[str]:
    """For a Redis kill: the seconds with 503s that no 'redis down' window covers."""
    windows = [f for f in chart["faults"] if f[2].startswith("redis down")]
    rates = next((p for p in chart["panels"] if p["title"].startswith("Load: requests/s")), None)
    if not windows or rates is None or "failed/s 503" not in rates["series"]:
        return [] if not windows else [f"{chart['id']}: the load saw no 503 while Redis was down"]
    offsets, counts = rates["t"], rates["series"]["failed/s 503"]
    # a second's bucket [t, t + 1) holds the requests that ended in it
    stray = [
        t
        for t, n in zip((chart["t0"] + o for o in offsets), counts, strict=True)
        if n and not any(start - 1 <= t <= end for start, end, _ in windows)
    ]
    return [f"{chart['id']}: 503s outside the Redis fault window at {stray}"] if stray else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("session", help="a game-day session directory")
    parser.add_argument("--screenshot", default="report.png")
    args = parser.parse_args()
    session = Path(args.session)
    ran = json.loads((session / "session.json").read_text())["outcomes"]
    page = session / "report.html"
    seen = inspect(page, Path(args.screenshot))
    found = problems(page, seen, expected_charts=len(ran))
    print(f"{page}: {page.stat().st_size / 1e6:.2f} MB, loaded in {seen['load_s']:.3f} s, "
          f"{seen['charts']} charts, PDF {len(seen['pdf']) / 1e3:.0f} kB")  # fmt: skip
    for problem in found:
        print(f"PROBLEM: {problem}")
    print("passed" if not found else "failed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
