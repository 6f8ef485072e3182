"""docs/results.md, whose sections between markers the matrix scripts rewrite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

RESULTS_DOC = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def write_section(begin: str, end: str, body: str) -> Path:
    """Replace what lies between the ``begin`` and ``end`` markers with ``body``."""
    text = RESULTS_DOC.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    RESULTS_DOC.write_text(text[:start] + "\n" + body + "\n" + text[stop:])
    return RESULTS_DOC


def render_results(path: str, begin: str, end: str, render: Callable[[list[dict]], str]) -> int:
    """Render the JSON lines of ``path`` with ``render`` between the markers; say so."""
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    written = write_section(begin, end, render(lines))
    print(f"wrote {len(lines)} results of {path} into {written}")
    return 0
