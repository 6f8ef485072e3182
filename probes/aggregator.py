"""Chaos Toolkit probes of the aggregator's passes: the last success and pass durations.

OPTIONAL: they read the reference café's own aggregator metrics (not part of
the target contract) at ``metrics_url`` (default: the target's ``aggregator_metrics_url``):
``aggregator_last_success_timestamp_seconds``, the histogram
``aggregator_pass_duration_seconds``, the counter ``aggregator_passes_total`` and
the gauge ``aggregator_pass_in_progress`` (if present).
A target without them makes these probes fail saying so.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from prometheus_client.parser import text_string_to_metric_families

from controls.adapter import engine_call
from gameday.httpcheck import require_loopback

__all__ = ["aggregator_last_pass", "aggregator_next_pass"]
logger = logging.getLogger("chaostoolkit")

LAST_SUCCESS = "aggregator_last_success_timestamp_seconds"
DURATION = "aggregator_pass_duration_seconds"
PASSES = "aggregator_passes"
IN_PROGRESS = "aggregator_pass_in_progress"
MAX_WAIT_S = 600


def aggregator_last_pass(
    metrics_url: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """When the last pass succeeded (unix time, age in s), passes by result, and the
    mean and count of successful pass durations since the aggregator started."""
    facts = _read(_checked_url(metrics_url, configuration))
    last = facts["last_success"]
    return {
        "last_success_ts": last,
        "last_success_age_s": round(time.time() - last, 3) if last else None,
        "passes": facts["passes"],
        "successful_passes": facts["count"],
        "mean_pass_s": round(facts["sum"] / facts["count"], 4) if facts["count"] else None,
    }


def aggregator_next_pass(
    timeout_s: float = 30,
    max_duration_s: float | None = None,
    metrics_url: str = "",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait up to ``timeout_s`` for the next pass that STARTS from now to succeed, and
    return its duration (a pass already in progress is let finish first).

    With ``max_duration_s``, raise when that pass took longer (an expectation).
    """
    if not 0 < timeout_s <= MAX_WAIT_S:
        raise ActivityFailed(f"timeout_s must be in (0, {MAX_WAIT_S}], got {timeout_s!r}")
    url = _checked_url(metrics_url, configuration)
    began = time.monotonic()
    before = _read(url)
    if before["in_progress"]:
        before = _await(url, before, began, timeout_s)
    now = _await(url, before, began, timeout_s)
    passes = now["count"] - before["count"]
    duration = (now["sum"] - before["sum"]) / passes
    result = {
        "pass_s": round(duration, 4),
        "passes_seen": passes,
        "waited_s": round(time.monotonic() - began, 2),
        "last_success_ts": now["last_success"],
        "failed_meanwhile": now["passes"].get("failure", 0) - before["passes"].get("failure", 0),
    }
    if max_duration_s is not None and duration > max_duration_s:
        raise ActivityFailed(
            f"expected an aggregator pass to take at most {max_duration_s} s, it took "
            f"{duration:.3f} s"
        )
    return result


def _await(metrics_url: str, before: dict, began: float, timeout_s: float) -> dict[str, Any]:
    """The metrics once a pass more than in ``before`` has succeeded."""
    while True:
        time.sleep(0.1)
        now = _read(metrics_url)
        if now["count"] > before["count"]:
            return now
        if time.monotonic() - began > timeout_s:
            raise ActivityFailed(
                f"aggregator: no pass succeeded within {timeout_s:g} s (passes so far: "
                f"{now['passes']}); is it running, and can it reach PostgreSQL and Redis?"
            )


def _checked_url(metrics_url: str, configuration: Configuration) -> str:
    """``metrics_url``, else the target's aggregator metrics, checked against the loopback rule."""
    with engine_call("read the aggregator metrics", configuration) as target:
        url = metrics_url or target.aggregator_metrics_url
        require_loopback(url, target.allow_remote_target)
    return url


def _read(metrics_url: str) -> dict[str, Any]:
    try:
        response = requests.get(metrics_url, timeout=3)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ActivityFailed(
            f"aggregator metrics at {metrics_url} did not answer ({type(exc).__name__}): "
            "these probes need the reference café's aggregator metrics (optional)"
        ) from None
    facts: dict[str, Any] = {
        "last_success": None,
        "sum": None,
        "count": None,
        "passes": {},
        "in_progress": False,
    }
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == LAST_SUCCESS:
                facts["last_success"] = sample.value or None
            elif sample.name == f"{DURATION}_sum":
                facts["sum"] = sample.value
            elif sample.name == f"{DURATION}_count":
                facts["count"] = int(sample.value)
            elif sample.name == IN_PROGRESS:
                facts["in_progress"] = sample.value >= 1
            elif sample.name == f"{PASSES}_total":
                facts["passes"][sample.labels.get("result", "")] = int(sample.value)
    if facts["count"] is None or facts["sum"] is None:
        raise ActivityFailed(
            f"{metrics_url} exposes no {DURATION} histogram: these probes need the "
            "reference café's aggregator metrics (optional)"
        )
    return facts
