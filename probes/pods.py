"""Chaos Toolkit probe of one pod killed under load (``kill-api-pod-under-load``; Kubernetes
only): the failures it caused, judged against the share of the traffic it held.

``actions.services.kill_one_pod`` records the kill (which pod, of how many, when, how long
until its Service stopped routing to it and until its replacement was ready).
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import livestats, locustrun
from gameday.kubeservices import POD_KILL_FILE

__all__ = ["failures_within_killed_share"]
logger = logging.getLogger("chaostoolkit")


def failures_within_killed_share(
    max_failure_ratio: float,
    replacement_within_s: float,
    margin_s: float = 1.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """While the killed pod's endpoint was being removed (``margin_s`` more for the requests
    under way), at most its share (1/N of the pods) of the requests failed; afterwards the
    failure ratio stays within ``max_failure_ratio`` (the replacement took traffic only once
    ready); the pods are readiness-gated and the replacement was ready within
    ``replacement_within_s``."""
    with engine_call("judge the failures of the pod kill", configuration) as target:
        run = locustrun.current(target)
        kill = _kill_record(target, datetime.fromisoformat(run["started_at"]).timestamp())
        removed_s = kill["endpoint_removed_s"] or kill["watched_s"]
        edge = kill["killed_at"] + removed_s + margin_s
        time.sleep(max(0.0, edge + 2 - time.time()))  # the live file lags a second
        records = livestats.read_seconds(run["live_file"])
    during = _merged(records, kill["killed_at"], edge)
    after = _merged(records, edge + 1, time.time())
    allowed = math.ceil(kill["share"] * during["count"])
    facts = {"kill": kill, "during_removal": during, "after_removal": after, "allowed": allowed}
    expected, observed = [], []
    if during["failures"] > allowed:
        expected.append(
            f"at most {allowed} of {during['count']} requests failing (share {kill['share']})"
        )
        observed.append(
            f"{during['failures']} failed while its endpoint was removed ({removed_s} s)"
        )
    if after["ratio"] > max_failure_ratio:
        expected.append(f"failure ratio <= {max_failure_ratio} after the removal")
        observed.append(f"{after['ratio']} ({after['codes']})")
    if not kill["readiness_gated"]:
        expected.append("every container of the pod template readiness-probed")
        observed.append("a container without a readinessProbe: traffic before it is ready")
    ready_s = kill["replacement_ready_s"]
    if ready_s is None or ready_s > replacement_within_s:
        expected.append(f"the replacement ready within {replacement_within_s} s")
        observed.append(f"ready after {ready_s} s")
    if expected:
        raise ActivityFailed(unmet("; ".join(expected), "; ".join(observed), figures=facts))
    return facts


def _kill_record(target: Any, load_began: float) -> dict[str, Any]:
    path = target.state_dir / POD_KILL_FILE
    try:
        kill = json.loads(path.read_text())
    except FileNotFoundError:
        raise ActivityFailed(f"no pod kill recorded in {path}: run kill_one_pod first") from None
    if kill["killed_at"] < load_began:
        raise ActivityFailed(f"the pod kill in {path} is older than the current load run")
    return kill


def _merged(records: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    chosen = [r for r in records if int(start) <= r["t"] <= int(end)]
    merged = livestats.merge(chosen)
    count = merged["count"]
    return {
        "from_t": int(start),
        "to_t": int(end),
        "count": count,
        "failures": merged["failures"],
        "ratio": round(merged["failures"] / count, 6) if count else 0.0,
        "codes": merged["codes"],
    }
