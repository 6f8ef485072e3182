"""Chaos Toolkit probes over the live statistics of the current load run.

They read ``live.jsonl`` of the run recorded by ``actions.load.start_load``
(one line per second, see ``gameday.livestats``); ``window_s`` counts the
newest complete seconds, ``endpoint`` is a request name such as
``/api/v1/order`` (None: every request). Every figure includes the requests
still open at the window's end at their age (a hang is never invisible), and a
request open longer than the run's request timeout counts as a failure with no
answer (code 0).

The expectations (``load_within``, ``unexpected_answers``, ``p99_is_stable``,
``p99_recovers_after_drop``) raise ``ActivityFailed`` saying what was expected
and what was observed; ``load_within(save_as_baseline=True)`` keeps its window
as the run's baseline, against which a later window's answers per second are
judged (``keeps_pace_at_ms``).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import capacity, livestats, loadplan, locustrun, tolerance
from probes.prometheus import server_latency

__all__ = [
    "failures_within_share",
    "load_outcome",
    "load_stats",
    "load_within",
    "p99_is_stable",
    "p99_recovers_after_drop",
    "unexpected_answers",
    "within_bounds_or_fail_fast",
]
logger = logging.getLogger("chaostoolkit")

BASELINE_FILE = "baseline.json"
# How long past its last window a probe waits for the load's per-second records.
LIVE_GRACE_S = 10


def load_stats(
    window_s: int = 10,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Answered, started and open requests, rates, failures, P50/P95/P99 (ms) and status
    codes over the window; ``age_s`` is how old its newest second is (large once Locust
    has finished)."""
    run = _current(configuration)
    timeout_ms = run.get("request_timeout_s", loadplan.REQUEST_TIMEOUT_S) * 1000
    with engine_call("read the load's statistics", configuration):
        facts = livestats.window(run["live_file"], window_s, endpoint, timeout_ms)
    facts["age_s"] = round(time.time() - facts["to_t"] - 1, 1) if facts["to_t"] else None
    facts.pop("open_hist")
    return facts


def load_within(
    window_s: int,
    p99_ms: float | dict[str, float] | None = None,
    max_failure_ratio: float | None = None,
    keeps_pace_at_ms: float | None = None,
    endpoint: str | None = None,
    save_as_baseline: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load: requests were made, their P99 (answered and still
    open) is at most ``p99_ms``, their failure ratio at most ``max_failure_ratio``, and they
    were answered at least at the pace the run's customers keep when every answer takes
    ``keeps_pace_at_ms`` (relative to the baseline window's pace): a system that answers
    within its bound passes, one that hangs, so that its customers stop asking, does not.

    ``p99_ms`` relative to the baseline window of the same run,
    ``{"max_ratio_of_baseline": 5, "floor_ms": 50}``, is 5 x the baseline's P99 or 50 ms,
    whichever is larger (``facts["p99_bound"]`` shows the baseline and the bound).

    ``save_as_baseline`` keeps this window as the run's baseline. The API's own P99 for the
    same window (Prometheus) is reported beside Locust's; a disagreement is a measurement
    note, not a verdict.
    """
    facts = load_stats(window_s, endpoint, configuration)
    if save_as_baseline:
        _save_baseline(configuration, endpoint, facts)
    what = endpoint or "all requests"
    expected, observed = [], []
    if not facts["count"] and not facts["in_flight"]:
        expected.append("requests")
        observed.append("none made")
    bound = _p99_bound(p99_ms, configuration, endpoint)
    if bound is not None:
        facts["p99_bound"] = bound
        p99_ms = bound["bound_ms"]
    limits = {"p99_ms": p99_ms, "max_failure_ratio": max_failure_ratio}
    facts["limits"] = {key: value for key, value in limits.items() if value is not None}
    if p99_ms is not None and (facts["p99_ms"] or 0) > p99_ms:
        expected.append(f"P99 <= {bound['described'] if bound else f'{p99_ms} ms'}")
        observed.append(f"P99 {facts['p99_ms']} ms ({facts['in_flight']} still open)")
    if max_failure_ratio is not None and facts["failure_ratio"] > max_failure_ratio:
        expected.append(f"failure ratio <= {max_failure_ratio}")
        observed.append(f"{facts['failure_ratio']} (codes {facts['codes']})")
    if keeps_pace_at_ms is not None:
        _judge_pace(configuration, endpoint, facts, keeps_pace_at_ms, expected, observed)
    facts["server_view"] = _server_view(configuration, window_s, endpoint, facts, p99_ms)
    if expected:
        raise ActivityFailed(
            unmet(
                f"{what} over the last {window_s} s: " + ", ".join(expected),
                "; ".join(observed),
                figures=facts,
            )
        )
    return facts


def failures_within_share(
    window_s: int,
    share: float,
    margin: float = 1.0,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load, the failure ratio (of ``endpoint``, or of every
    request) is at most ``share`` x ``margin``: a fault that hits ``share`` of the
    connections (a reset's toxicity) fails no more than the requests it hits."""
    for key, value, low in (("share", share, 0), ("margin", margin, 0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= low:
            raise ActivityFailed(f"{key} must be a number > {low}, got {value!r}")
    if share > 1:
        raise ActivityFailed(f"share must be at most 1, got {share!r}")
    facts = load_stats(window_s, endpoint, configuration)
    bound = round(share * margin, 4)
    facts["bound"] = {"share": share, "margin": margin, "max_failure_ratio": bound}
    what = endpoint or "all requests"
    if not facts["count"]:
        raise ActivityFailed(unmet(f"requests to {what}", "none", figures=facts))
    if facts["failure_ratio"] > bound:
        raise ActivityFailed(
            unmet(
                f"{what} over the last {window_s} s: failure ratio <= {bound} "
                f"({share:g} of the connections hit x {margin:g})",
                f"{facts['failure_ratio']} ({facts['failures']} of {facts['count']}: "
                f"{facts['codes']})",
                figures=facts,
            )
        )
    return facts


def within_bounds_or_fail_fast(
    window_s: int,
    p99_ms: float,
    max_failure_ratio: float,
    fail_fast_ms: float,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``window_s`` of load, ``endpoint`` either kept its bounds (failure
    ratio at most ``max_failure_ratio`` and P99 at most ``p99_ms``) or failed fast (its
    P99, failures included, at most ``fail_fast_ms``): a slow answer that is neither
    within the bounds nor a fast failure is what neither the customer nor the operator
    wants."""
    facts = load_stats(window_s, endpoint, configuration)
    what = endpoint or "all requests"
    kept = facts["failure_ratio"] <= max_failure_ratio
    bound = p99_ms if kept else fail_fast_ms
    facts["judged_as"] = "kept its bounds" if kept else "failing: fast?"
    facts["limits"] = {"p99_ms": bound, "max_failure_ratio": max_failure_ratio}
    if not facts["count"] and not facts["in_flight"]:
        raise ActivityFailed(unmet(f"requests to {what}", "none made", figures=facts))
    if (facts["p99_ms"] or 0) > bound:
        expected = (
            f"P99 <= {p99_ms} ms while failures stay <= {max_failure_ratio}"
            if kept
            else f"failures answered fast: P99 <= {fail_fast_ms} ms"
        )
        raise ActivityFailed(
            unmet(
                f"{what} over the last {window_s} s keeps its bounds or fails fast: {expected}",
                f"P99 {facts['p99_ms']} ms ({facts['in_flight']} still open), failure ratio "
                f"{facts['failure_ratio']} (codes {facts['codes']})",
                figures=facts,
            )
        )
    return facts


def unexpected_answers(
    window_s: int = 10,
    allowed: list[int] | None = None,
    endpoint: str | None = None,
    raise_on_unexpected: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Status codes seen over the window that are not ``allowed`` (default 200 and 503).

    Code ``"0"`` counts requests that got no HTTP answer (refused, reset, timed out, or
    still open past the request timeout). With ``raise_on_unexpected`` (an expectation),
    any of them, or no request at all, raises.
    """
    permitted = {str(code) for code in (allowed if allowed is not None else [200, 503])}
    facts = load_stats(window_s, endpoint, configuration)
    unexpected = {code: n for code, n in sorted(facts["codes"].items()) if code not in permitted}
    result = {"unexpected": unexpected, "allowed": sorted(permitted), **facts}
    if raise_on_unexpected and (unexpected or not facts["count"]):
        raise ActivityFailed(
            unmet(
                f"only {sorted(permitted)} for {endpoint or 'all requests'} over the last "
                f"{window_s} s",
                f"{facts['codes'] or 'no answers'}",
                figures=result,
            )
        )
    return result


def p99_is_stable(
    window_s: int,
    over_s: int,
    max_cv: float,
    p99_ms: float,
    endpoint: str | None = "/api/v1/order",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Over the last ``over_s`` of load cut into ``window_s`` windows, the per-window P99
    varies by at most ``max_cv`` (coefficient of variation) and stays at most ``p99_ms``."""
    if not isinstance(window_s, int) or not isinstance(over_s, int) or over_s < 2 * window_s:
        raise ActivityFailed(
            f"need at least two windows: over_s ({over_s!r}) >= 2 x window_s ({window_s!r})"
        )
    records = _records(configuration, last=over_s + 2)
    newest = max((r["t"] for r in records), default=0)
    windows = livestats.windows_before(records, newest, window_s, over_s // window_s, endpoint)
    p99s = [w["p99_ms"] for w in windows if w["p99_ms"] is not None]
    if len(p99s) < len(windows):
        raise ActivityFailed(unmet(f"requests in every {window_s} s window", windows))
    facts = {
        "windows": windows,
        "p99_cv": livestats.coefficient_of_variation(p99s),
        "p95_cv": livestats.coefficient_of_variation([w["p95_ms"] for w in windows]),
        "worst_p99_ms": max(p99s),
        "max_cv": max_cv,
    }
    if facts["p99_cv"] > max_cv or facts["worst_p99_ms"] > p99_ms:
        raise ActivityFailed(
            unmet(
                f"the per-{window_s}-s P99 to vary by at most {max_cv} (coefficient of "
                f"variation) and stay <= {p99_ms} ms",
                f"CV {facts['p99_cv']}, P99s {p99s}",
                figures=facts,
            )
        )
    return facts


def p99_recovers_after_drop(
    drop_after_s: float | list[float],
    within_s: float,
    window_s: int,
    p99_ms: float,
    endpoint: str | None = "/api/v1/order",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """The load drops ``drop_after_s`` into the run; within ``within_s`` after it, a
    ``window_s`` window begins whose P99 is at most ``p99_ms`` again.

    Returns ``recovery_s``: from the drop to the start of that window. ``drop_after_s``
    may list the phases before the drop, to add up.
    """
    run = _current(configuration)
    with engine_call("find when the load began", configuration):
        drop_after_s = capacity.total_seconds(drop_after_s, "drop_after_s")
        began = capacity.first_second(
            run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
        )
    drop_t = began + int(drop_after_s)
    last_start = drop_t + int(within_s)
    # The last window ends at last_start + window_s; a load that stopped writing seconds
    # before then (it ended, or its generator hung) is judged on what it wrote by then.
    deadline = last_start + window_s + LIVE_GRACE_S
    while True:
        records = _records(configuration)
        newest = max((r["t"] for r in records), default=0)
        starts = range(drop_t, min(last_start, newest - window_s + 1) + 1)
        found, tried = livestats.first_window_under(records, starts, window_s, p99_ms, endpoint)
        if found is not None:
            return {
                "recovery_s": found - drop_t,
                "p99_ms": tried[-1],
                "window_s": window_s,
                "within_s": within_s,
                "drop_t": drop_t,
            }
        if newest - window_s + 1 >= last_start or time.time() > deadline:
            break
        time.sleep(1)
    seen = [p for p in tried if p is not None]
    ended = "" if newest - window_s + 1 >= last_start else f"; the load's seconds end at {newest}"
    raise ActivityFailed(
        unmet(
            f"the P99 back under {p99_ms} ms within {within_s} s after the load dropped",
            f"window P99s from the drop {seen[:5]} ... {seen[-3:]} ms{ended}",
        )
    )


def load_outcome(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Whether the current (or last) run has finished, its exit code and why it stopped.

    ``stop_reason`` names the self-stop (``abort_failure_ratio``) when the load
    stopped itself on a dead target; exit code 3 then.
    """
    with engine_call("read the load's outcome", configuration) as target:
        run = locustrun.latest(target)
        facts = livestats.outcome(Path(run["live_file"]))
    return {"run_dir": run["run_dir"], **facts}


def _current(configuration: Configuration) -> dict[str, Any]:
    with engine_call("read the load's statistics", configuration) as target:
        return locustrun.current(target)


def _records(configuration: Configuration, last: int | None = None) -> list[dict[str, Any]]:
    live_file = _current(configuration)["live_file"]
    with engine_call("read the load's statistics", configuration):
        return livestats.read_seconds(live_file, last=last)


def _baseline_file(configuration: Configuration) -> Path:
    return Path(_current(configuration)["run_dir"]) / BASELINE_FILE


def _save_baseline(configuration: Configuration, endpoint: str | None, facts: dict) -> None:
    path = _baseline_file(configuration)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[endpoint or "*"] = facts
    path.write_text(json.dumps(saved, indent=2))


def _judge_pace(
    configuration: Configuration,
    endpoint: str | None,
    facts: dict[str, Any],
    keeps_pace_at_ms: float,
    expected: list[str],
    observed: list[str],
) -> None:
    """Answers per second at least the baseline's pace were every answer that slow."""
    facts["answer_ratio"] = _answer_ratio(configuration, endpoint, facts)
    floor = capacity.pace_kept(_current(configuration)["user_classes"], keeps_pace_at_ms / 1000)
    facts["pace_floor"] = floor
    if floor is not None and facts["answer_ratio"] < floor:
        expected.append(
            f"answers/s >= {floor} x the baseline's (the pace kept were every answer "
            f"{keeps_pace_at_ms} ms)"
        )
        observed.append(f"{facts['answer_ratio']} x ({facts['rps']}/s)")


def _p99_bound(
    p99_ms: Any, configuration: Configuration, endpoint: str | None
) -> dict[str, Any] | None:
    """A P99 bound relative to the run's baseline: max(ratio x baseline P99, floor)."""
    if not isinstance(p99_ms, dict):
        return None
    with engine_call("judge the P99 against the baseline", configuration):
        relative = tolerance.relative_bound(p99_ms)
    baseline = _baseline(configuration, endpoint)["p99_ms"]
    if baseline is None:
        raise ActivityFailed(
            f"the baseline of {endpoint or 'all requests'} has no P99 (no request in it): "
            "a bound relative to it cannot be computed"
        )
    return tolerance.bound_from_baseline(relative, baseline)


def _baseline(configuration: Configuration, endpoint: str | None) -> dict[str, Any]:
    path = _baseline_file(configuration)
    try:
        return json.loads(path.read_text())[endpoint or "*"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        raise ActivityFailed(
            f"no baseline for {endpoint or 'all requests'} in {path}: judge a window before "
            "the fault with load_within(save_as_baseline=True) first"
        ) from None


def _answer_ratio(configuration: Configuration, endpoint: str | None, facts: dict) -> float:
    """Answers per second of this window over those of the baseline window."""
    baseline = _baseline(configuration, endpoint)
    if not baseline["rps"]:
        raise ActivityFailed(
            f"the baseline in {_baseline_file(configuration)} saw no answers: it cannot be compared"
        )
    return round(facts["rps"] / baseline["rps"], 3)


def _server_view(
    configuration: Configuration,
    window_s: int,
    endpoint: str | None,
    facts: dict[str, Any],
    threshold_ms: float | None,
) -> dict[str, Any]:
    """The API's own P99 for the window beside Locust's, and whether they agree."""
    if facts["p99_ms"] is None:
        return {"not_available": "no request in the window"}
    try:
        server = server_latency(window_s, endpoint, configuration=configuration)
    except ActivityFailed as exc:
        return {"not_available": str(exc)}
    view: dict[str, Any] = {"p99_ms": server["value_ms"], "bucket_ms": server["bucket_ms"]}
    note = livestats.compare_views(facts["p99_ms"], server["value_ms"], server["bucket_ms"])
    if note:
        view["measurement_note"] = note
    if threshold_ms is not None and float(threshold_ms) not in server["boundaries_ms"]:
        view["threshold_note"] = (
            f"the API's histogram has no bucket boundary at {threshold_ms} ms "
            f"(boundaries {server['boundaries_ms']} ms): its view of the bound is approximate"
        )
    return view
