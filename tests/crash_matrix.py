"""Render the crash matrix of a ``make crash-matrix`` run into docs/results.md.

    python tests/crash_matrix.py runs/crash-matrix/results.jsonl

Rewrites the part of docs/results.md between the crash matrix markers: one row per
fault kind and signal, with the quick experiment that injected it, how long until the
ledger showed it, the recovery and its duration, and what was left ("nothing" or the list).
"""

from __future__ import annotations

import json
import sys

from results_doc import render_results

BEGIN = "<!-- crash matrix: begin (tests/crash_matrix.py) -->"
END = "<!-- crash matrix: end -->"


def render(lines: list[dict]) -> str:
    """The matrix as a Markdown table, from the result lines of one run."""
    rows = [
        "| fault | signal | experiment (quick) | ledger showed it after | recovery | took | left |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in sorted(lines, key=lambda c: (c["kind"], c["signal"])):
        took = f"{line['recover_s']} s" if line["recover_s"] is not None else ""
        left = "nothing" if not line["left"] else f"**{json.dumps(line['left'])}**"
        rows.append(
            f"| {line['kind']} | {line['signal']} | `{line['experiment']}` | "
            f"{line['fault_shown_s']} s | `{line['recovery']}` | {took} | {left} |"
        )
    clean = sum(not line["left"] for line in lines)
    rows += ["", f"{clean} of {len(lines)} cases left nothing."]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(render_results(sys.argv[1], BEGIN, END, render))
