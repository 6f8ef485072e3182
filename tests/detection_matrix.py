"""Render the detection matrix of a ``make detection`` run into docs/results.md.

    python tests/detection_matrix.py runs/detection/results.jsonl

Rewrites the part of docs/results.md between the detection markers: one row per
experiment, one column per café flaw; "caught (probe)" where the experiment must
catch the flaw and did, "MISSED" where it did not, blank where it is not asked to.
"""

from __future__ import annotations

import sys
from datetime import date

from results_doc import render_results

BEGIN = "<!-- detection matrix: begin (tests/detection_matrix.py) -->"
END = "<!-- detection matrix: end -->"


def render(lines: list[dict]) -> str:
    """The matrix as a Markdown table, from the result lines of one run."""
    flaws = sorted({flaw for line in lines for flaw in line["flaws"]})
    cells: dict[str, dict[str, str]] = {}
    for line in lines:
        for flaw in line["flaws"]:
            mark = "caught" if line["caught"][flaw] else "**MISSED**"
            cells.setdefault(line["experiment"], {})[flaw] = f"{mark} ({line['expected'][flaw]})"
    rows = ["| experiment | " + " | ".join(flaws) + " |", "|---" * (len(flaws) + 1) + "|"]
    for experiment in sorted(cells):
        row = [cells[experiment].get(flaw, "") for flaw in flaws]
        rows.append(f"| `{experiment}` | " + " | ".join(row) + " |")
    caught = sum(line["caught"][f] for line in lines for f in line["flaws"])
    pairs = sum(len(line["flaws"]) for line in lines)
    minutes = sum(line.get("duration_s", 0) for line in lines) / 60
    rows.append("")
    rows.append(
        f"{caught} of {pairs} pairs caught, each pair alone, {len(lines)} runs of "
        f"{minutes:.0f} min of experiments (`make detection`, {date.today().isoformat()})."
    )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(render_results(sys.argv[1], BEGIN, END, render))
