"""Fixtures for the Kubernetes tests: a FAKE API server (tests/fake_kube_api.py; no real one
can run here) holding the reference café's workloads as deploy/kubernetes names them, and a
target file for the kubernetes platform pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_kube_api import FakeKubeApi, FakeKubeServer
from target_files import write_target

from gameday.target import Target, load_target

NS = "coffee"
SERVICES = {
    "api": {
        "program": "api",
        "kubernetes": {
            "label_selector": "app=coffee-api",
            "namespace": NS,
            "deployment": "coffee-api",
            "service": "coffee-api",
            "autoscaler": "coffee-api",
        },
    },
    "aggregator": {
        "program": "aggregator",
        "kubernetes": {
            "label_selector": "app=coffee-aggregator",
            "namespace": NS,
            "deployment": "coffee-aggregator",
        },
    },
    "redis": {
        "program": "redis",
        "kubernetes": {"label_selector": "app=redis", "namespace": NS, "statefulset": "redis"},
    },
    "postgresql": {
        "program": "postgresql",
        "kubernetes": {
            "label_selector": "app=postgresql",
            "namespace": NS,
            "statefulset": "postgresql",
        },
    },
}
CLIENT_ENV = ("KUBERNETES_CONTEXT", "CHAOSTOOLKIT_IN_POD", "KUBERNETES_API_KEY", "HTTP_PROXY")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """The FAKE cluster, its API server running and chaosk8s's client pointed at it."""
    fake = FakeKubeApi(NS)
    fake.add_controller("Deployment", "coffee-api", 2, container="api")
    fake.add_service("coffee-api", "coffee-api")
    fake.add_hpa("coffee-api", "coffee-api")
    fake.add_controller("Deployment", "coffee-aggregator", 1, container="aggregator")
    fake.add_controller("StatefulSet", "redis", 1)
    fake.add_controller("StatefulSet", "postgresql", 1)
    with FakeKubeServer(fake) as server:
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
        monkeypatch.setenv("KUBERNETES_HOST", server.url)
        for name in CLIENT_ENV:
            monkeypatch.delenv(name, raising=False)
        yield fake


def kubernetes_configuration(tmp_path: Path, **changes) -> dict:
    """The configuration naming a kubernetes target file (state under tmp_path)."""
    settings = {
        "platform": "kubernetes",
        "api_url": "http://127.0.0.1:8005",
        "services": SERVICES,
        "proxies": {},
    }
    return write_target(tmp_path, **{**settings, **changes})


@pytest.fixture
def k8s(tmp_path: Path) -> Target:
    return load_target(kubernetes_configuration(tmp_path))
