"""Render the detection matrix of a ``make detection`` run into docs/results.md.

    python tests/detection_matrix.py runs/detection/results.jsonl

Rewrites the part of docs/results.md between the detection markers: one row per
experiment, one column per café flaw; "caught (probe)" where the experiment must
catch the flaw and did, "MISSED" where it did not, blank where it is not asked to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS_DOC = Path(__file__).resolve().parent.parent / "docs" / "results.md"
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
    rows.append("")
    rows.append(f"{caught} of {pairs} pairs caught.")
    return "\n".join(rows)


def main(path: str) -> int:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    text = RESULTS_DOC.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    RESULTS_DOC.write_text(text[:start] + "\n" + render(lines) + "\n" + text[stop:])
    print(f"wrote the matrix of {len(lines)} runs into {RESULTS_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
