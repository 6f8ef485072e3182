"""Service control on Kubernetes (gameday.kubeservices) against a FAKE API server: no
Kubernetes API server can run on this machine. The fake speaks the real paths and JSON
(tests/fake_kube_api.py) and plays the controllers; chaosk8s and the official client talk
to it over HTTP exactly as they would to a cluster."""

from __future__ import annotations

import json

import pytest

from gameday import ledger, services
from gameday.errors import KubernetesError, ServiceError
from gameday.kubeservices import POD_KILL_FILE
from gameday.target import Service


def test_kill_holds_the_statefulset_at_zero_and_deletes_its_pod_with_no_grace(cluster, k8s):
    before = services.status("redis", k8s)
    killed = services.kill("redis", k8s)
    assert killed["pods_terminated"] == ["redis-0"] and killed["replicas_before"] == 1
    assert cluster.calls("PATCH", "/statefulsets/redis$")[0][2] == {"spec": {"replicas": 0}}
    (delete,) = cluster.calls("DELETE", "/pods/redis-0$")
    assert delete[2]["gracePeriodSeconds"] == 0
    assert services.status("redis", k8s)["running"] is False, "held down: not recreated"
    [entry] = ledger.ledger_for(k8s).entries()
    assert entry["revert"] == {"action": "start", "platform": "kubernetes", "replicas": 1}

    [reverted] = ledger.recover(k8s)
    assert reverted["result"]["replicas"] == 1 and reverted["result"]["changed"] is True
    after = services.status("redis", k8s)
    assert after["running"] is True and after["pods"] == ["redis-0"]
    assert after["uptime"] < before["uptime"] or before["uptime"] == 0
    assert ledger.ledger_for(k8s).entries() == []


def test_stop_scales_the_deployment_to_zero_and_start_restores_its_replicas(cluster, k8s):
    stopped = services.stop("api", k8s, timeout_s=5)
    assert stopped["replicas_before"] == 2 and cluster.controllers["coffee-api"]["replicas"] == 0
    assert services.stop("api", k8s)["changed"] is False
    started = services.start("api", k8s, timeout_s=5)
    assert started["replicas"] == 2 and len(started["pods"]) == 2
    assert cluster.calls("PATCH", "/deployments/coffee-api$")[-1][2] == {"spec": {"replicas": 2}}
    assert ledger.ledger_for(k8s).entries() == []


def test_start_waits_for_ready_pods_and_names_them_when_they_never_are(cluster, k8s):
    services.kill("aggregator", k8s)
    cluster.start_delay_s = 60
    with pytest.raises(ServiceError) as exc:
        services.start("aggregator", k8s, timeout_s=1)
    assert "did not become ready (1 wanted) within 1 s" in str(exc.value)
    assert "Pending" in str(exc.value)
    assert len(ledger.ledger_for(k8s).entries()) == 1, "the fault stays recorded"


def test_kill_of_a_service_without_ready_pods_is_refused_and_records_nothing(cluster, k8s):
    cluster.controllers["postgresql"]["replicas"] = 0
    with pytest.raises(ServiceError) as exc:
        services.kill("postgresql", k8s)
    assert "no ready pod matches 'app=postgresql' in namespace 'coffee'" in str(exc.value)
    assert ledger.ledger_for(k8s).entries() == [] and not cluster.calls("DELETE", "/pods/")


def test_status_reads_ready_pods_restarts_and_the_youngest_uptime(cluster, k8s):
    facts = services.status("api", k8s)
    assert facts["platform"] == "kubernetes" and facts["program"] == "deployment/coffee-api"
    assert facts["state"] == "RUNNING" and facts["ready"] == 2 and facts["restarts"] == 0
    assert facts["uptime"] is not None and facts["uptime"] >= 0 and facts["pid"] is None


def test_kill_one_pod_measures_endpoint_removal_and_the_replacement(cluster, k8s):
    cluster.endpoint_lag_s = 0.6
    cluster.start_delay_s = 1.0
    record = services.kill_one_pod("api", k8s, timeout_s=10)
    assert record["share"] == 0.5 and record["pod"] in record["pods_before"]
    assert 0.5 <= record["endpoint_removed_s"] < 3, record
    assert 0.9 <= record["replacement_ready_s"] < 4, record
    assert record["readiness_gated"] is True
    saved = json.loads((k8s.state_dir / POD_KILL_FILE).read_text())
    assert saved["pod"] == record["pod"]
    [entry] = ledger.ledger_for(k8s).entries()
    assert entry["revert"] == {"action": "start", "platform": "kubernetes"}
    assert services.start("api", k8s)["changed"] is False
    assert ledger.ledger_for(k8s).entries() == []


def test_kill_one_pod_needs_several(cluster, k8s):
    with pytest.raises(ServiceError) as exc:
        services.kill_one_pod("aggregator", k8s)
    assert "1 ready pod(s)" in str(exc.value) and "at least 2" in str(exc.value)
    assert ledger.ledger_for(k8s).entries() == []


def test_an_unknown_workload_is_an_error_naming_it(cluster, k8s):
    cluster.controllers.pop("coffee-aggregator")
    with pytest.raises(KubernetesError) as exc:
        services.kill("aggregator", k8s)
    message = str(exc.value)
    assert "deployment/coffee-aggregator in namespace coffee" in message
    assert "HTTP 404" in message and "not found" in message


def test_a_misspelt_kubernetes_key_is_refused(k8s):
    from gameday import kube

    with pytest.raises(KubernetesError) as exc:
        kube.workload(Service("api", "api", {"label_selector": "app=x", "namspace": "coffee"}))
    assert "unknown key(s) namspace" in str(exc.value)


def test_an_unreachable_api_server_names_the_service(k8s, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_HOST", "http://127.0.0.1:9")
    with pytest.raises(KubernetesError) as exc:
        services.status("redis", k8s)
    assert "could not list its pods for service 'redis'" in str(exc.value)


def test_kill_one_pod_needs_the_kubernetes_platform(tmp_path):
    from kube_fixtures import kubernetes_configuration

    from gameday.target import load_target

    supervisor = load_target(kubernetes_configuration(tmp_path, platform="supervisor"))
    with pytest.raises(ServiceError) as exc:
        services.kill_one_pod("api", supervisor)
    assert "needs the kubernetes platform" in str(exc.value)
