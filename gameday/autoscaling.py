"""A HorizontalPodAutoscaler followed through a load step and its drop (``hpa-spike``): when
its desired replicas rose, when every desired pod was ready, when it scaled in again.

Each follow polls the HPA's status (autoscaling/v2: desiredReplicas, currentReplicas, the
CPU it read) and the workload's ready pods, keeps a timeline of every change, and is saved
to ``SCALE_FILE`` in the state directory for the probes that judge the requests of its window.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gameday import kube
from gameday.kube import Workload
from gameday.target import Target

__all__ = ["SCALE_FILE", "follow_in", "follow_out", "load_record", "save_record", "snapshot"]

SCALE_FILE = "kubernetes/autoscaling.json"
Secrets = dict[str, Any] | None


def snapshot(work: Workload, secrets: Secrets = None) -> dict[str, Any]:
    """Now: the HPA's desired and current replicas, the CPU it read, the ready pods."""
    hpa = kube.autoscaler_status(work, secrets)
    ready = sum(p.serving for p in kube.pods(work, secrets))
    return {
        "t": round(time.time(), 1),
        "desired": hpa["desired"],
        "current": hpa["current"],
        "ready": ready,
        "cpu_utilization": hpa["cpu_utilization"],
    }


def follow_out(
    work: Workload, step_t: float, within_s: float, poll_s: float = 2.0, secrets: Secrets = None
) -> dict[str, Any]:
    """From the load step (epoch ``step_t``) until ``within_s`` after it: seconds until the
    desired replicas rose above those at the step, and until that many pods were ready."""
    timeline = [snapshot(work, secrets)]
    initial = peak = timeline[0]["desired"] or timeline[0]["ready"]
    rose_t = ready_t = None
    while True:
        now = timeline[-1]
        peak = max(peak, now["desired"] or 0)
        if rose_t is None and (now["desired"] or 0) > initial:
            rose_t = now["t"]
        if rose_t is not None and now["ready"] >= peak:
            ready_t = now["t"]
            break
        if time.time() >= step_t + within_s:
            break
        time.sleep(poll_s)
        _add(timeline, snapshot(work, secrets))
    return {
        "step_t": step_t,
        "within_s": within_s,
        "initial_replicas": initial,
        "peak_desired": peak,
        "desired_rose_after_s": _after(rose_t, step_t),
        "ready_after_s": _after(ready_t, step_t),
        "ready_t": ready_t,
        "timeline": timeline,
    }


def follow_in(
    work: Workload,
    drop_t: float,
    peak: int,
    within_s: float,
    poll_s: float = 2.0,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """From the load's drop (epoch ``drop_t``): seconds until the desired replicas fell below
    ``peak`` and the ready pods matched them (the scale-in done)."""
    timeline = [snapshot(work, secrets)]
    done_t = None
    while True:
        now = timeline[-1]
        if (now["desired"] or 0) < peak and now["ready"] == now["desired"]:
            done_t = now["t"]
            break
        if time.time() >= drop_t + within_s:
            break
        time.sleep(poll_s)
        _add(timeline, snapshot(work, secrets))
    return {
        "drop_t": drop_t,
        "within_s": within_s,
        "from_replicas": peak,
        "to_replicas": timeline[-1]["desired"],
        "scaled_in_after_s": _after(done_t, drop_t),
        "done_t": done_t,
        "timeline": timeline,
    }


def save_record(target: Target, key: str, facts: dict[str, Any]) -> None:
    path = target.state_dir / SCALE_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[key] = facts
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))


def load_record(target: Target, key: str) -> dict[str, Any] | None:
    path = target.state_dir / SCALE_FILE
    return json.loads(path.read_text()).get(key) if path.exists() else None


def _add(timeline: list[dict[str, Any]], now: dict[str, Any]) -> None:
    """Keep a snapshot only when the replicas changed."""
    if any(timeline[-1][k] != now[k] for k in ("desired", "current", "ready")):
        timeline.append(now)


def _after(moment: float | None, since: float) -> float | None:
    return round(moment - since, 1) if moment is not None else None
