"""Service control on Kubernetes: the same verbs as on supervisor, on a service's workload.

- ``kill``: the controller is held at 0 replicas, then its pods are deleted with no grace
  period (chaosk8s ``terminate_pods``): the service stays down for the whole fault, as a
  SIGKILLed program does under supervisor; the revert scales it back and the controller
  recreates the pods.
- ``kill_one_pod``: one pod of several is deleted with no grace period and its controller
  recreates it; the time until its Service stops routing to it and until the replacement is
  ready are measured (``kill-api-pod-under-load``).
- ``stop``: the controller is scaled to 0 (graceful). ``start``: the replicas a fault took
  away (from the ledger) are restored and every desired pod is ready again.
- ``status``: ready pods, restarts, and the uptime of the youngest ready container.

Every fault is recorded in the ledger (kind ``service``) before it is made.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from gameday import kube
from gameday.errors import ServiceError
from gameday.kube import Pod, Workload
from gameday.ledger import ledger_for
from gameday.target import Service, Target

__all__ = ["POD_KILL_FILE", "kill", "kill_one_pod", "start", "status", "stop"]

POD_KILL_FILE = "kubernetes/pod-kill.json"
POLL_S = 0.2
Secrets = dict[str, Any] | None


def status(service: Service, secrets: Secrets = None) -> dict[str, Any]:
    """{service, program, platform, state, running, pid, uptime, pods, ready, restarts}."""
    work = kube.workload(service)
    found = kube.pods(work, secrets)
    serving = [p for p in found if p.serving]
    starts = [p.started_at for p in serving if p.started_at]
    return {
        "service": service.name,
        "program": f"{work.kind.lower()}/{work.name}",
        "platform": "kubernetes",
        "state": "RUNNING" if serving else "STOPPED",
        "running": bool(serving),
        "pid": None,
        # The youngest ready container: the service has run unrestarted in every pod that
        # long (a container restart or a replaced pod makes it small again).
        "uptime": round(time.time() - max(starts), 1) if starts else (0 if not serving else None),
        "pods": [p.name for p in serving],
        "ready": len(serving),
        "restarts": sum(p.restarts for p in found),
    }


def kill(service: Service, target: Target, timeout_s: float, secrets: Secrets) -> dict:
    """Hold the controller at 0 and delete its pods with no grace; the revert scales back."""
    work = kube.workload(service)
    if not any(p.serving for p in kube.pods(work, secrets)):
        raise ServiceError(
            f"cannot kill service {service.name!r}: no ready pod matches {work.selector!r} in "
            f"namespace {work.namespace!r}; start it first (`gameday recover`)"
        )
    before = kube.replicas(work, secrets)
    entry_id = ledger_for(target).record(
        "service",
        service.name,
        {"action": "start", "platform": "kubernetes", "replicas": before},
        note=f"held {work.label} at 0 replicas (was {before}), its pods deleted with no grace",
    )
    began = time.monotonic()
    kube.scale(work, 0, secrets)
    deleted = kube.terminate(work, secrets=secrets)
    kube.wait_for(work, lambda pods: not pods, timeout_s, "go away after the kill", secrets)
    return {
        "service": service.name,
        "platform": "kubernetes",
        "state": "STOPPED",
        "pods_terminated": deleted,
        "replicas_before": before,
        "replicas_held_at": 0,
        "seconds": round(time.monotonic() - began, 3),
        "ledger_id": entry_id,
    }


def stop(service: Service, target: Target, timeout_s: float, secrets: Secrets) -> dict:
    """Scale the controller to 0 and wait until no pod is left; 0 already is a no-op."""
    work = kube.workload(service)
    before = kube.replicas(work, secrets)
    if before == 0:
        return {
            "service": service.name,
            "platform": "kubernetes",
            "changed": False,
            "note": f"{work.label} already has 0 replicas",
        }
    entry_id = ledger_for(target).record(
        "service",
        service.name,
        {"action": "start", "platform": "kubernetes", "replicas": before},
        note=f"scaled {work.label} from {before} to 0",
    )
    began = time.monotonic()
    kube.scale(work, 0, secrets)
    kube.wait_for(work, lambda pods: not pods, timeout_s, "stop", secrets)
    return {
        "service": service.name,
        "platform": "kubernetes",
        "state": "STOPPED",
        "changed": True,
        "replicas_before": before,
        "seconds": round(time.monotonic() - began, 3),
        "ledger_id": entry_id,
    }


def start(service: Service, target: Target, timeout_s: float, secrets: Secrets) -> dict:
    """Restore the replicas a fault took away and wait until every desired pod is ready."""
    work = kube.workload(service)
    recorded = [
        entry["revert"].get("replicas")
        for entry in ledger_for(target).entries()
        if entry["kind"] == "service" and entry["subject"] == service.name
    ]
    current = kube.replicas(work, secrets)
    wanted = max([r for r in recorded if r] or [current or work.default_replicas])
    began = time.monotonic()
    if wanted != current:
        kube.scale(work, wanted, secrets)
    ready = kube.wait_for(
        work,
        lambda pods: sum(p.serving for p in pods) >= wanted,
        timeout_s,
        f"become ready ({wanted} wanted)",
        secrets,
    )
    return {
        "service": service.name,
        "platform": "kubernetes",
        "state": "RUNNING",
        "changed": wanted != current,
        "replicas": wanted,
        "pods": [p.name for p in ready if p.serving],
        "seconds": round(time.monotonic() - began, 3),
    }


def kill_one_pod(service: Service, target: Target, timeout_s: float, secrets: Secrets) -> dict:
    """Delete one ready pod of several with no grace; measure until its Service stops routing
    to it and until its controller's replacement is ready. Saved for the probes that judge
    the failures it caused (``POD_KILL_FILE`` in the state directory)."""
    work = kube.workload(service)
    serving = [p for p in kube.pods(work, secrets) if p.serving]
    if len(serving) < 2:
        raise ServiceError(
            f"cannot kill one pod of service {service.name!r}: {len(serving)} ready pod(s) match "
            f"{work.selector!r}; killing one of several needs at least 2"
        )
    victim = random.choice(serving)
    entry_id = ledger_for(target).record(
        "service",
        service.name,
        {"action": "start", "platform": "kubernetes"},
        note=f"deleted pod {victim.name} of {work.label} with no grace; its controller recreates it",
    )
    killed_at = time.time()
    kube.terminate(work, [victim.name], secrets)
    facts = _watch_replacement(work, victim, len(serving), killed_at, timeout_s, secrets)
    record = {
        "service": service.name,
        "platform": "kubernetes",
        "pod": victim.name,
        "pod_ip": victim.ip,
        "pods_before": [p.name for p in serving],
        "share": round(1 / len(serving), 4),
        "killed_at": killed_at,
        **facts,
        "readiness_gated": kube.readiness_gated(work, secrets),
        "ledger_id": entry_id,
    }
    path = target.state_dir / POD_KILL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return record


def _watch_replacement(
    work: Workload, victim: Pod, count: int, killed_at: float, timeout_s: float, secrets: Secrets
) -> dict[str, Any]:
    """Seconds from the kill until the Service's endpoints drop the pod, and until ``count``
    pods other than it are ready again (None when not within ``timeout_s``)."""
    removed_s = ready_s = None
    routed = bool(work.endpoints and victim.ip)
    while time.time() - killed_at < timeout_s:
        if removed_s is None and routed:
            if victim.ip not in kube.endpoint_addresses(work, secrets):
                removed_s = round(time.time() - killed_at, 3)
        if ready_s is None:
            others = [p for p in kube.pods(work, secrets) if p.serving and p.uid != victim.uid]
            if len(others) >= count:
                ready_s = round(time.time() - killed_at, 3)
        if ready_s is not None and (removed_s is not None or not routed):
            break
        time.sleep(POLL_S)
    return {
        "endpoint_removed_s": removed_s,
        "replacement_ready_s": ready_s,
        "watched_s": round(time.time() - killed_at, 3),
    }
