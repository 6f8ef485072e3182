"""What the report shows of one experiment, gathered from its run directory.

The journal (verdict, fault marks, every probe's result), the load's seconds
(``live.jsonl``) and the server's series from Prometheus for the same seconds,
kept in ``<run_dir>/server-series.json`` so that a report rendered later shows the
same figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from gameday import clientseries, serverseries
from gameday.faultwindows import timestamp
from gameday.verdict import Verdict

__all__ = ["chart_inputs", "expectations", "hypothesis", "load_journal", "server_series"]

SERVER_FILE = "server-series.json"
_REF = re.compile(r"\$\{(\w+)\}")


def load_journal(verdict: Verdict) -> dict[str, Any]:
    try:
        return json.loads(verdict.journal.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def server_series(run_dir: Path, prometheus_url: str, span: tuple[float, float]) -> dict:
    """The server's series of the run (kept beside it once fetched)."""
    kept = run_dir / SERVER_FILE
    if kept.exists():
        return json.loads(kept.read_text())
    fetched = serverseries.fetch(prometheus_url, span[0], span[1])
    if fetched["panels"]:
        kept.write_text(json.dumps(fetched, separators=(",", ":")))
    return fetched


def chart_inputs(verdict: Verdict, journal: dict[str, Any], prometheus_url: str) -> dict | None:
    """The span, panels, fault windows and probe marks of one experiment's chart."""
    live = clientseries.find_live_file(verdict.run_dir)
    client = clientseries.per_second(live) if live else None
    start = verdict.started or (client["t"][0] if client and client["t"] else None)
    end = verdict.ended or (client["t"][-1] if client and client["t"] else None)
    if start is None or end is None:
        return None
    panels = []
    if client and client["t"]:
        t = client["t"]
        rates = {"answered/s": (t, client["answered"])}
        rates.update({f"failed/s {code}": (t, v) for code, v in sorted(client["failed"].items())})
        panels.append({"title": "Load: requests/s (Locust)", "series": rates})
        panels.append(
            {
                "title": "Load: latency ms (Locust)",
                "series": {"P50": (t, client["p50"]), "P99": (t, client["p99"])},
                "bounds": _bounds(journal),
            }
        )
    server = server_series(verdict.run_dir, prometheus_url, (start, end))
    for panel in server["panels"]:
        series = {name: (server["t"], values) for name, values in panel["series"].items()}
        panels.append({"title": panel["title"], "series": series})
    faults = [
        {
            "start": w.start,
            "end": w.end,
            "label": w.label,
            "title": f"{w.label}: {w.note} ({w.end - w.start:.1f} s; reverted by {w.reverted_by})",
        }
        for w in verdict.fault_windows
    ]
    return {
        "span": (start, end),
        "panels": panels,
        "faults": faults,
        "marks": _marks(journal),
        "client": client,
        "problems": server["problems"],
    }


def expectations(journal: dict[str, Any]) -> list[dict[str, Any]]:
    """Each method probe: met, unmet (expected, observed) or not judged, with its bound."""
    rows = []
    not_judged = {
        n["name"]: n["reason"] for n in journal.get("coffee_chaos", {}).get("not_judged", [])
    }
    for run in journal.get("run", []):
        activity = run.get("activity", {})
        if activity.get("type") != "probe":
            continue
        name = activity.get("name")
        facts = _facts(run)
        row = {
            "name": name,
            "result": "met",
            "expected": "",
            "observed": _short(run.get("output")) if run.get("output") is not None else "",
            "bound": _bound(facts),
        }
        if run.get("status") != "succeeded":
            failure = run.get("expectation") or {}
            row.update(
                result="unmet",
                expected=failure.get("expected", ""),
                observed=str(failure.get("observed", _reason(run))),
            )
        elif name in not_judged:
            row.update(result="not judged", observed=not_judged[name])
        rows.append(row)
    for name, reason in not_judged.items():
        if reason == "not reached":
            rows.append(
                {"name": name, "result": "not reached", "expected": "", "observed": "", "bound": ""}
            )
    return rows


def hypothesis(journal: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """The steady-state probes before and after: tolerance and what was observed."""
    values = _configuration(journal, run_dir)
    rows = []
    for when in ("before", "after"):
        state = (journal.get("steady_states") or {}).get(when) or {}
        for probe in state.get("probes") or []:
            activity = probe.get("activity", {})
            rows.append(
                {
                    "when": when,
                    "name": activity.get("name"),
                    "tolerance": _tolerance(activity.get("tolerance"), values),
                    "observed": _short(probe.get("output")),
                    "met": probe.get("tolerance_met"),
                }
            )
    return rows


def _marks(journal: dict[str, Any]) -> list[dict[str, Any]]:
    marks = []
    states = journal.get("steady_states") or {}
    hyp = [p for s in ("before", "after") for p in ((states.get(s) or {}).get("probes") or [])]
    for run in [*hyp, *journal.get("run", [])]:
        activity = run.get("activity", {})
        if activity.get("type") != "probe" or not run.get("end"):
            continue
        output = run.get("output")
        ok = run.get("status") == "succeeded" and run.get("tolerance_met", True) is not False
        unavailable = isinstance(output, dict) and "not_available" in output
        said = (run.get("expectation") or {}).get("observed") or _reason(run)
        title = f"{activity.get('name')}: " + (
            "not judged" if unavailable else "met" if ok else f"UNMET ({said})"
        )
        marks.append(
            {"t": timestamp(run["end"]), "ok": None if unavailable else ok, "title": title}
        )
    return marks


def _bounds(journal: dict[str, Any]) -> list[dict[str, Any]]:
    bounds = []
    for run in journal.get("run", []):
        facts = _facts(run)
        limit = (facts.get("limits") or {}).get("p99_ms")
        if limit is None or facts.get("from_t") is None:
            continue
        name = run.get("activity", {}).get("name")
        bounds.append(
            {
                "start": facts["from_t"],
                "end": facts["to_t"] + 1,
                "value": float(limit),
                "title": f"{name}: P99 bound {_bound(facts) or f'{limit} ms'}",
            }
        )
    return bounds


def _facts(run: dict[str, Any]) -> dict[str, Any]:
    output = run.get("output")
    if isinstance(output, dict):
        return output
    figures = (run.get("expectation") or {}).get("figures")
    return figures if isinstance(figures, dict) else {}


def _bound(facts: dict[str, Any]) -> str:
    bound = facts.get("p99_bound")
    return bound["described"] if isinstance(bound, dict) else ""


def _reason(run: dict[str, Any]) -> str:
    exception = run.get("exception") or []
    return exception[-1].strip()[:300] if exception else ""


def _configuration(journal: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The experiment's defaults, then the session's vars for it (thresholds)."""
    raw = (journal.get("experiment") or {}).get("configuration") or {}
    values = {
        k: v.get("default") if isinstance(v, dict) and "type" in v else v for k, v in raw.items()
    }
    try:
        values.update(
            (yaml.safe_load((run_dir / "vars.yaml").read_text()) or {}).get("configuration", {})
        )
    except FileNotFoundError:
        pass
    return values


def _tolerance(tolerance: Any, values: dict[str, Any]) -> str:
    if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
        tolerance = (tolerance.get("provider") or {}).get("arguments", {}).get("at_most", tolerance)
    text = json.dumps(tolerance) if not isinstance(tolerance, str | int | float) else str(tolerance)
    return _REF.sub(lambda m: str(values.get(m.group(1), m.group(0))), text).replace('"', "")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        keys = ("p99_ms", "failure_ratio", "samples", "status")
        picked = {k: value[k] for k in keys if k in value}
        value = picked or value
    text = json.dumps(value) if not isinstance(value, str | int | float) else str(value)
    return text.replace('"', "")[:160]
