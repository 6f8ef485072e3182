"""The Kubernetes target file written from the manifests' names (gameday kubernetes-target),
and what `gameday check-target` tells of a Kubernetes target, against a FAKE API server (no
real one can run here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kube_fixtures import kubernetes_configuration

from gameday import cli, kubetarget, targetcheck
from gameday.target import TargetError, load_target

REPO = Path(__file__).resolve().parent.parent
OVERLAY = REPO / "deploy/kubernetes/overlays/test-cluster"
EXPERIMENTS = REPO / "experiments"
K8S_SIGNALS = ("pod-status", "chaos-mesh", "autoscaler", "api-replicas")


def test_the_target_file_names_the_manifests_workloads(tmp_path, capsys):
    out = tmp_path / "target.json"
    code = cli.main(["kubernetes-target", "--kustomize", str(OVERLAY), "-o", str(out)])
    assert code == 0 and "COFFEE_CHAOS_TARGET" in capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["platform"] == "kubernetes" and written["proxies"] == {}
    assert written["services"]["api"]["kubernetes"] == {
        "label_selector": "app=coffee-api",
        "namespace": "coffee",
        "deployment": "coffee-api",
        "service": "coffee-api",
        "autoscaler": "coffee-api",
    }
    assert written["services"]["redis"]["kubernetes"]["statefulset"] == "redis"
    target = load_target({"target_file": str(out)})
    assert set(target.services) == {"api", "aggregator", "redis", "postgresql"}
    assert target.api_url == "http://127.0.0.1:30805"


def test_manifests_without_the_service_labels_are_refused_naming_what_is_missing():
    objects = kubetarget.kustomize(OVERLAY)
    unlabelled = [
        o for o in objects if o["metadata"]["name"] != "redis" or o["kind"] != "StatefulSet"
    ]
    with pytest.raises(TargetError) as exc:
        kubetarget.from_manifests(unlabelled)
    assert "labelled coffee-chaos/service for redis" in str(exc.value)
    with pytest.raises(TargetError) as exc:
        kubetarget.read_manifests("kind: [unclosed")
    assert "not valid YAML" in str(exc.value)


@pytest.mark.lab
def test_check_target_sees_the_kubernetes_signals_of_the_fake_cluster(tmp_path, cluster):
    """The FAKE cluster's signals; the API, WebSocket and database checks reach the lab's."""
    signals = targetcheck.check(load_target(kubernetes_configuration(tmp_path)))
    for name in K8S_SIGNALS:
        assert signals[name].offered, (name, signals[name].evidence)
    assert "2 ready API pods behind Service coffee-api" in signals["api-replicas"].evidence
    assert "2-10 replicas" in signals["autoscaler"].evidence
    assert not signals["process-facts"].offered and not signals["fault-proxy"].offered
    cluster.chaos_mesh = False
    assert not targetcheck.check(load_target(kubernetes_configuration(tmp_path)))[
        "chaos-mesh"
    ].offered


def test_which_experiments_apply_on_kubernetes_and_on_the_lab():
    def signals(offered: set[str]) -> dict:
        return {
            name: targetcheck.Signal(name, meaning, name in offered)
            for name, meaning in targetcheck.SIGNALS.items()
        }

    common = {"api", "websocket", "metrics", "prometheus", "service-control", "database"}
    kubernetes = signals(common | set(K8S_SIGNALS))
    lab = signals(common | {"process-facts", "fault-proxy", "aggregator-metrics", "pool-gauge"})

    def verdict(name: str, found: dict) -> targetcheck.Applicability:
        return targetcheck.applicability(EXPERIMENTS / f"{name}.json", found)

    assert verdict("hpa-spike", kubernetes).verdict == "fully"
    assert verdict("kill-api-pod-under-load", kubernetes).verdict == "fully"
    assert verdict("delay-redis", kubernetes).verdict == "fully", "through Chaos Mesh"
    assert verdict("kill-postgres", kubernetes).verdict == "fully", "uptime from the pods"
    assert verdict("soak", kubernetes).missing == ["process-facts"]
    assert verdict("hpa-spike", lab).missing == ["autoscaler", "pod-status"]
    assert verdict("kill-api-pod-under-load", lab).verdict == "no"
    assert verdict("delay-redis", lab).verdict == "fully"
    assert verdict("cpu-starvation", lab).verdict == "fully"
    assert verdict("memory-pressure", kubernetes).verdict == "no", "stress-ng runs beside the API"
    without_mesh = signals(common | {"pod-status"})
    assert verdict("delay-redis", without_mesh).missing == ["fault-proxy or chaos-mesh"]
