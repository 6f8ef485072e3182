"""A game day as JUnit XML, so that a CI system shows it like tests.

One testcase per experiment of the plan: a deviation is a ``failure`` whose message is
the first failed expectation with observed vs tolerance (all of them in the body); an
experiment that could not run as planned (failed, crashed, refused, interrupted) is an
``error``; one the session did not reach is ``skipped``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gameday.score import Score
from gameday.verdict import Verdict

__all__ = ["write_junit"]


def write_junit(path: Path, title: str, verdicts: list[Verdict], result: Score) -> Path:
    """Write the JUnit XML of the session to ``path``."""
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name=title, tests=str(len(verdicts)))
    properties = ET.SubElement(suite, "properties")
    score = "" if result.value is None else f"{result.value:g}"
    ET.SubElement(properties, "property", name="resilience_score", value=score)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for verdict in verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"gameday.{_slug(title)}",
            name=verdict.name,
            time=f"{verdict.duration_s or 0:.1f}",
        )
        kind = _kind(verdict)
        if kind:
            counts[kind if kind == "skipped" else f"{kind}s"] += 1
            element = ET.SubElement(case, kind, message=verdict.first_failure() or verdict.outcome)
            element.text = verdict.summary()
        ET.SubElement(case, "system-out").text = f"journal: {verdict.journal}"
    for key, value in counts.items():
        suite.set(key, str(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def _kind(verdict: Verdict) -> str | None:
    if verdict.outcome == "passed":
        return None
    if verdict.outcome == "deviated":
        return "failure"
    if verdict.outcome == "not run":
        return "skipped"
    return "error"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:60]
