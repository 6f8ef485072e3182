"""A service's workload on Kubernetes, read and changed through chaostoolkit-kubernetes.

A service's ``kubernetes`` section in the target file (``gameday kubernetes-target`` writes
it from the manifests):

- ``label_selector`` (required): the service's pods, e.g. ``app=coffee-api``;
- ``namespace`` (``default``);
- ``deployment`` or ``statefulset``: its controller (default: the Deployment named after
  the selector's ``app`` label);
- ``service``: the Service in front of it (endpoint removal after a pod kill);
- ``autoscaler``: its HorizontalPodAutoscaler;
- ``replicas``: what ``start`` scales a controller found at 0 to, when the ledger does not
  say (1).

The API client is chaosk8s's ``create_k8s_api_client``: ``~/.kube/config`` (``KUBECONFIG``,
``KUBERNETES_CONTEXT``), in-cluster credentials, or ``KUBERNETES_HOST`` and its credentials.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gameday.errors import KubernetesError
from gameday.target import Service

__all__ = ["Pod", "Workload", "autoscaler_status", "endpoint_addresses", "pods", "workload"]

KEYS = ("label_selector", "namespace", "deployment", "statefulset", "service", "autoscaler")
Secrets = dict[str, Any] | None


@dataclass(frozen=True)
class Workload:
    """Where a service runs on the cluster."""

    service: str
    namespace: str
    selector: str
    kind: str  # "Deployment" or "StatefulSet"
    name: str
    endpoints: str | None = None
    autoscaler: str | None = None
    default_replicas: int = 1

    @property
    def label(self) -> str:
        return f"{self.kind.lower()}/{self.name} in namespace {self.namespace}"


@dataclass(frozen=True)
class Pod:
    """One pod of a workload, as its status says."""

    name: str
    uid: str
    ip: str | None
    phase: str
    ready: bool
    terminating: bool
    started_at: float | None  # the latest start of its running containers (epoch s)
    restarts: int

    @property
    def serving(self) -> bool:
        return self.ready and not self.terminating


def workload(service: Service) -> Workload:
    """The workload of ``service``, from its ``kubernetes`` section; errors name the key."""
    spec = dict(service.kubernetes)
    where = f"service {service.name!r}: kubernetes"
    unknown = sorted(set(spec) - set(KEYS) - {"replicas"})
    if unknown:
        raise KubernetesError(
            f"{where} has unknown key(s) {', '.join(unknown)}: it takes {', '.join(KEYS)}"
        )
    selector = spec.get("label_selector")
    if not selector or not isinstance(selector, str):
        raise KubernetesError(f"{where}.label_selector is missing (e.g. app=coffee-api)")
    if spec.get("deployment") and spec.get("statefulset"):
        raise KubernetesError(f"{where}: give deployment or statefulset, not both")
    kind, name = (
        ("StatefulSet", spec["statefulset"])
        if spec.get("statefulset")
        else ("Deployment", spec.get("deployment"))
    )
    if not name:
        labels = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        name = labels.get("app")
    if not name:
        raise KubernetesError(
            f"{where}: set deployment or statefulset (the selector has no app label)"
        )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise KubernetesError(f"{where}.replicas must be a whole number >= 1, got {replicas!r}")
    return Workload(
        service=service.name,
        namespace=spec.get("namespace") or "default",
        selector=selector,
        kind=kind,
        name=name,
        endpoints=spec.get("service"),
        autoscaler=spec.get("autoscaler"),
        default_replicas=replicas,
    )


def call(work: Workload, what: str, do: Callable[[], Any]) -> Any:
    """``do()``; any error of the client or of chaosk8s becomes a KubernetesError naming the
    service, its workload and the cause."""
    try:
        return do()
    except KubernetesError:
        raise
    except Exception as exc:  # the client and chaosk8s raise many types: name the cause
        raise KubernetesError(
            f"kubernetes: could not {what} for service {work.service!r} ({work.label}): "
            f"{_cause(exc)}"
        ) from None


def pods(work: Workload, secrets: Secrets = None) -> list[Pod]:
    """Every pod the selector matches, terminating ones included, by name."""
    listed = call(
        work,
        "list its pods",
        lambda: _core(secrets).list_namespaced_pod(work.namespace, label_selector=work.selector),
    )
    return sorted((_pod(item) for item in listed.items), key=lambda pod: pod.name)


def replicas(work: Workload, secrets: Secrets = None) -> int:
    """The controller's desired replicas (spec.replicas)."""
    read = _apps(secrets).read_namespaced_deployment
    if work.kind == "StatefulSet":
        read = _apps(secrets).read_namespaced_stateful_set
    found = call(work, f"read {work.kind} {work.name}", lambda: read(work.name, work.namespace))
    return int(found.spec.replicas or 0)


def scale(work: Workload, count: int, secrets: Secrets = None) -> None:
    """Set the controller's replicas (chaosk8s scale_deployment / scale_statefulset)."""
    if work.kind == "StatefulSet":
        from chaosk8s.statefulset.actions import scale_statefulset as scale_it
    else:
        from chaosk8s.deployment.actions import scale_deployment as scale_it
    call(
        work,
        f"scale {work.kind} {work.name} to {count}",
        lambda: scale_it(name=work.name, replicas=count, ns=work.namespace, secrets=secrets),
    )


def terminate(work: Workload, names: list[str] | None = None, secrets: Secrets = None) -> list[str]:
    """Delete pods with no grace period (chaosk8s terminate_pods): ``names``, else all of the
    selector's. A pod that went away meanwhile (404) is not an error: the list is read again."""
    from chaosk8s.pod.actions import terminate_pods

    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else None
    for attempt in range(3):
        try:
            return terminate_pods(
                label_selector=work.selector,
                name_pattern=pattern,
                all=True,
                grace_period=0,
                ns=work.namespace,
                secrets=secrets,
            )
        except Exception as exc:
            if getattr(exc, "status", None) != 404 or attempt == 2:
                call(work, "delete its pods", lambda exc=exc: _raise(exc))
    return []


def readiness_gated(work: Workload, secrets: Secrets = None) -> bool:
    """Whether every container of the controller's pod template has a readiness probe."""
    read = _apps(secrets).read_namespaced_deployment
    if work.kind == "StatefulSet":
        read = _apps(secrets).read_namespaced_stateful_set
    found = call(work, f"read {work.kind} {work.name}", lambda: read(work.name, work.namespace))
    return all(c.readiness_probe for c in found.spec.template.spec.containers)


def endpoint_addresses(work: Workload, secrets: Secrets = None) -> set[str]:
    """The ready addresses of the workload's Service (its EndpointSlices)."""
    if not work.endpoints:
        raise KubernetesError(
            f"service {work.service!r}: kubernetes.service (the Service in front of its pods) "
            "is not set in the target file"
        )
    from kubernetes import client

    listed = call(
        work,
        f"list the endpoints of Service {work.endpoints}",
        lambda: client.DiscoveryV1Api(_client(secrets)).list_namespaced_endpoint_slice(
            work.namespace, label_selector=f"kubernetes.io/service-name={work.endpoints}"
        ),
    )
    return {
        address
        for piece in listed.items
        for endpoint in piece.endpoints or []
        if endpoint.conditions is None or endpoint.conditions.ready is not False
        for address in endpoint.addresses
    }


def autoscaler_status(work: Workload, secrets: Secrets = None) -> dict[str, Any]:
    """The HorizontalPodAutoscaler's bounds and status (autoscaling/v2)."""
    if not work.autoscaler:
        raise KubernetesError(
            f"service {work.service!r}: kubernetes.autoscaler (its HorizontalPodAutoscaler) is "
            "not set in the target file"
        )
    from kubernetes import client

    hpa = call(
        work,
        f"read HorizontalPodAutoscaler {work.autoscaler}",
        lambda: client.AutoscalingV2Api(_client(secrets)).read_namespaced_horizontal_pod_autoscaler(
            work.autoscaler, work.namespace
        ),
    )
    status = hpa.status
    return {
        "min": hpa.spec.min_replicas or 1,
        "max": hpa.spec.max_replicas,
        "current": status.current_replicas if status else None,
        "desired": status.desired_replicas if status else None,
        "cpu_utilization": _cpu(status),
        "last_scale_time": status.last_scale_time.isoformat()
        if status and status.last_scale_time
        else None,
    }


def wait_for(
    work: Workload, done: Callable[[list[Pod]], bool], timeout_s: float, what: str, secrets: Secrets
) -> list[Pod]:
    """Poll the pods until ``done(pods)``; KubernetesError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = pods(work, secrets)
        if done(found):
            return found
        if time.monotonic() >= deadline:
            states = ", ".join(f"{p.name} {p.phase}{' ready' if p.serving else ''}" for p in found)
            raise KubernetesError(
                f"service {work.service!r} ({work.label}): pods did not {what} within "
                f"{timeout_s:g} s ({states or 'no pod'})"
            )
        time.sleep(0.5)


def _pod(item: Any) -> Pod:
    status = item.status
    conditions = {c.type: c.status for c in (status.conditions or [])}
    containers = status.container_statuses or []
    starts = [
        c.state.running.started_at.timestamp()
        for c in containers
        if c.state and c.state.running and c.state.running.started_at
    ]
    return Pod(
        name=item.metadata.name,
        uid=item.metadata.uid or item.metadata.name,
        ip=status.pod_ip,
        phase=status.phase or "Unknown",
        ready=conditions.get("Ready") == "True",
        terminating=item.metadata.deletion_timestamp is not None,
        started_at=max(starts) if starts else None,
        restarts=sum(c.restart_count or 0 for c in containers),
    )


def _cpu(status: Any) -> int | None:
    for metric in (status.current_metrics or []) if status else []:
        resource = metric.resource
        if metric.type == "Resource" and resource and resource.name == "cpu":
            return resource.current.average_utilization
    return None


def _client(secrets: Secrets) -> Any:
    from chaosk8s import create_k8s_api_client

    return create_k8s_api_client(secrets)


def _core(secrets: Secrets) -> Any:
    from kubernetes import client

    return client.CoreV1Api(_client(secrets))


def _apps(secrets: Secrets) -> Any:
    from kubernetes import client

    return client.AppsV1Api(_client(secrets))


def _raise(exc: Exception) -> None:
    raise exc


def _cause(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status:
        reason = getattr(exc, "reason", "") or ""
        try:
            message = json.loads(getattr(exc, "body", "") or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {status} {reason}" + (f": {message}" if message else "")
    return str(exc) or type(exc).__name__
