"""A FAKE Kubernetes API server for the tests: no real one can run on this machine (no
cluster, no container runtime). It binds 127.0.0.1 and speaks the real API's paths and JSON
(the shapes of the Kubernetes OpenAPI, which the official client checks on every read) for
what the toolkit calls: pods (list, delete), Deployments and StatefulSets (read, patch
spec.replicas), HorizontalPodAutoscalers (autoscaling/v2, read), EndpointSlices (list), and
Chaos Mesh NetworkChaos custom objects (discovery, create, list, read, delete).

It plays the controllers crudely: new pods turn Ready after ``start_delay_s``, extra ones
terminate over ``terminate_s``, a deleted pod leaves its Service's endpoints ``endpoint_lag_s``
later, an HPA follows a test's plan (``plan_hpa``). It cannot tell scheduling, image pulls,
real readiness, kube-proxy, the HPA's arithmetic, Chaos Mesh's effect on packets.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CHAOS = "/apis/chaos-mesh.org/v1alpha1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    failure = {"status": "Failure", "message": message, "reason": reason, "code": code}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, **failure}


class FakeKubeApi:
    """The fake cluster's state and its controllers (see the module's docstring)."""

    def __init__(self, namespace: str = "coffee", start_delay_s: float = 0.3) -> None:
        self.namespace = namespace
        self.start_delay_s = start_delay_s
        self.endpoint_lag_s = 0.0
        self.terminate_s = 0.5  # a graceful termination (a scale-down) takes this long
        self.chaos_mesh = True
        self.lock = threading.RLock()
        self.controllers: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, str]] = {}
        self.hpas: dict[str, dict[str, Any]] = {}
        self.custom: dict[str, dict[str, Any]] = {}
        self.gone: list[tuple[str, str, float]] = []  # (service, ip, until) after a delete
        self.requests: list[tuple[str, str, Any]] = []
        self._ids = itertools.count(1)

    # --- what a test sets up ---------------------------------------------------------------

    def add_controller(
        self, kind: str, name: str, replicas: int, readiness: bool = True, container: str = ""
    ) -> None:
        with self.lock:
            self.controllers[name] = {
                "kind": kind,
                "replicas": replicas,
                "labels": {"app": name},
                "readiness": readiness,
                "container": container or name,
                "generation": 1,
            }
            self._reconcile()
            for pod in self.pods.values():
                pod["_ready_at"] = 0.0  # a deployed cluster: its pods are ready already

    def add_service(self, name: str, app: str) -> None:
        self.services[name] = {"app": app}

    def add_hpa(self, name: str, target: str, minimum: int = 2, maximum: int = 10) -> None:
        replicas = self.controllers[target]["replicas"]
        self.hpas[name] = {
            "target": target,
            "min": minimum,
            "max": maximum,
            "desired": replicas,
            "cpu": 20,
            "plan": [],
            "last_scale": _now(),
        }

    def plan_hpa(self, name: str, steps: list[tuple[float, int, int]]) -> None:
        """From now: after each step's seconds, the HPA wants ``desired`` at ``cpu`` %."""
        began = time.monotonic()
        self.hpas[name]["plan"] = [(began + after, desired, cpu) for after, desired, cpu in steps]

    def calls(self, method: str, pattern: str) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] == method and re.search(pattern, r[1])]

    # --- the controllers ---------------------------------------------------------------

    def _reconcile(self) -> None:
        now = time.monotonic()
        for hpa in self.hpas.values():
            due = [step for step in hpa["plan"] if step[0] <= now]
            if due:
                _, desired, hpa["cpu"] = due[-1]
                if desired != hpa["desired"]:
                    hpa["desired"], hpa["last_scale"] = desired, _now()
                    self.controllers[hpa["target"]]["replicas"] = desired
                hpa["plan"] = [step for step in hpa["plan"] if step[0] > now]
        for pod in [p for p in self.pods.values() if p.get("_deleting_until", now + 1) <= now]:
            self._delete_pod(pod["_name"])
        for name, spec in self.controllers.items():
            mine = sorted(
                (p for p in self.pods.values() if p["_owner"] == name),
                key=lambda p: p["_created"],
            )
            alive = [p for p in mine if "_deleting_until" not in p]
            for _ in range(spec["replicas"] - len(alive)):
                self._create_pod(name, spec, mine)
            for pod in alive[spec["replicas"] :]:
                pod["_deleting_until"] = now + self.terminate_s

    def _create_pod(self, owner: str, spec: dict[str, Any], siblings: list[dict]) -> None:
        number = next(self._ids)
        if spec["kind"] == "StatefulSet":
            taken = {p["_name"] for p in siblings}
            name = next(f"{owner}-{i}" for i in itertools.count() if f"{owner}-{i}" not in taken)
        else:
            name = f"{owner}-7d4b9c-{number:05d}"
        self.pods[name] = {
            "_name": name,
            "_owner": owner,
            "_created": time.monotonic(),
            "_ready_at": time.monotonic() + self.start_delay_s,
            "_uid": f"uid-{number}",
            "_ip": f"10.244.0.{number}",
            "_container": spec["container"],
            "_labels": dict(spec["labels"]),
        }
        siblings.append(self.pods[name])

    def _delete_pod(self, name: str) -> dict[str, Any]:
        pod = self.pods.pop(name)
        for service, selector in self.services.items():
            if selector.items() <= pod["_labels"].items():
                self.gone.append((service, pod["_ip"], time.monotonic() + self.endpoint_lag_s))
        return pod

    # --- the API's objects ---------------------------------------------------------------

    def pod_json(self, name: str) -> dict[str, Any]:
        pod = self.pods[name]
        ready = time.monotonic() >= pod["_ready_at"]
        started = datetime.fromtimestamp(
            time.time() - (time.monotonic() - pod["_ready_at"]), UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = (
            {"running": {"startedAt": started}}
            if ready
            else {"waiting": {"reason": "ContainerCreating"}}
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": pod["_uid"],
                "labels": pod["_labels"],
                "creationTimestamp": _now(),
                **(
                    {"deletionTimestamp": _now(), "deletionGracePeriodSeconds": 30}
                    if "_deleting_until" in pod
                    else {}
                ),
            },
            "spec": {
                "containers": [{"name": pod["_container"], "image": "localhost/coffee-cafe:dev"}]
            },
            "status": {
                "phase": "Running" if ready else "Pending",
                "podIP": pod["_ip"],
                "conditions": [
                    {"type": "Ready", "status": str(ready), "lastTransitionTime": _now()}
                ],
                "containerStatuses": [
                    {
                        "name": pod["_container"],
                        "image": "localhost/coffee-cafe:dev",
                        "imageID": "",
                        "ready": ready,
                        "restartCount": 0,
                        "started": ready,
                        "state": state,
                    }
                ],
            },
        }

    def controller_json(self, name: str) -> dict[str, Any]:
        spec = self.controllers[name]
        container: dict[str, Any] = {
            "name": spec["container"],
            "image": "localhost/coffee-cafe:dev",
        }
        if spec["readiness"]:
            container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": 8005}}
        ready = sum(
            1
            for p in self.pods.values()
            if p["_owner"] == name and time.monotonic() >= p["_ready_at"]
        )
        body: dict[str, Any] = {
            "replicas": spec["replicas"],
            "selector": {"matchLabels": spec["labels"]},
            "template": {
                "metadata": {"labels": spec["labels"]},
                "spec": {"containers": [container]},
            },
        }
        if spec["kind"] == "StatefulSet":
            body["serviceName"] = f"{name}-headless"
        return {
            "apiVersion": "apps/v1",
            "kind": spec["kind"],
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "generation": spec["generation"],
            },
            "spec": body,
            "status": {
                "replicas": spec["replicas"],
                "readyReplicas": ready,
                "observedGeneration": spec["generation"],
            },
        }

    def hpa_json(self, name: str) -> dict[str, Any]:
        hpa = self.hpas[name]
        current = self.controllers[hpa["target"]]["replicas"]
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": hpa["target"],
                },
                "minReplicas": hpa["min"],
                "maxReplicas": hpa["max"],
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 60},
                        },
                    }
                ],
            },
            "status": {
                "currentReplicas": current,
                "desiredReplicas": hpa["desired"],
                "lastScaleTime": hpa["last_scale"],
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageUtilization": hpa["cpu"], "averageValue": "150m"},
                        },
                    }
                ],
                "conditions": [
                    {
                        "type": "AbleToScale",
                        "status": "True",
                        "reason": "ReadyForNewScale",
                        "lastTransitionTime": _now(),
                    }
                ],
            },
        }

    def endpoint_slices(self, service: str) -> dict[str, Any]:
        selector = self.services.get(service, {})
        now = time.monotonic()
        endpoints = [
            {
                "addresses": [pod["_ip"]],
                "conditions": {
                    "ready": now >= pod["_ready_at"],
                    "serving": now >= pod["_ready_at"],
                    "terminating": False,
                },
                "targetRef": {"kind": "Pod", "name": name, "namespace": self.namespace},
            }
            for name, pod in self.pods.items()
            if selector and selector.items() <= pod["_labels"].items()
        ]
        self.gone = [g for g in self.gone if g[2] > now]
        endpoints += [
            {"addresses": [ip], "conditions": {"ready": True}}
            for svc, ip, _ in self.gone
            if svc == service
        ]
        items = [
            {
                "metadata": {
                    "name": f"{service}-x7k2p",
                    "labels": {"kubernetes.io/service-name": service},
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "port": 8005, "protocol": "TCP"}],
            }
        ]
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSliceList",
            "metadata": {},
            "items": items,
        }


def _labels(query: dict[str, list[str]]) -> dict[str, str]:
    raw = query.get("labelSelector", [""])[0]
    return dict(part.split("=", 1) for part in raw.split(",") if "=" in part)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeApi

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        body = self._body() if method in ("POST", "PATCH", "DELETE") else None
        fake = self.fake
        with fake.lock:
            fake.requests.append((method, url.path, body))
            fake._reconcile()
            code, answer = _route(fake, method, url.path, parse_qs(url.query), body)
        self._send(code, answer)

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


def _route(fake: FakeKubeApi, method: str, path: str, query: dict, body: Any) -> tuple[int, dict]:
    ns = f"/namespaces/{fake.namespace}"
    if method == "GET" and path == f"/api/v1{ns}/pods":
        wanted = _labels(query)
        names = [n for n, p in fake.pods.items() if wanted.items() <= p["_labels"].items()]
        return 200, {
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": {},
            "items": [fake.pod_json(n) for n in names],
        }
    if match := re.fullmatch(rf"/api/v1{ns}/pods/([^/]+)", path):
        name = match.group(1)
        if name not in fake.pods:
            return 404, _status(404, "NotFound", f'pods "{name}" not found')
        if method == "DELETE":
            answer = fake.pod_json(name)
            fake._delete_pod(name)
            return 200, answer
    if match := re.fullmatch(rf"/apis/apps/v1{ns}/(deployments|statefulsets)/([^/]+)", path):
        kind = {"deployments": "Deployment", "statefulsets": "StatefulSet"}[match.group(1)]
        name = match.group(2)
        spec = fake.controllers.get(name)
        if not spec or spec["kind"] != kind:
            return 404, _status(404, "NotFound", f'{match.group(1)}.apps "{name}" not found')
        if method == "PATCH":
            spec["replicas"] = int(body["spec"]["replicas"])
            spec["generation"] += 1
            fake._reconcile()
        return 200, fake.controller_json(name)
    if match := re.fullmatch(rf"/apis/autoscaling/v2{ns}/horizontalpodautoscalers/([^/]+)", path):
        name = match.group(1)
        if name not in fake.hpas:
            return 404, _status(
                404, "NotFound", f'horizontalpodautoscalers.autoscaling "{name}" not found'
            )
        return 200, fake.hpa_json(name)
    if method == "GET" and path == f"/apis/discovery.k8s.io/v1{ns}/endpointslices":
        return 200, fake.endpoint_slices(_labels(query).get("kubernetes.io/service-name", ""))
    if path.startswith(CHAOS):
        return _chaos_mesh(fake, method, path.removeprefix(CHAOS), body)
    return 404, _status(404, "NotFound", f"the fake API server does not serve {method} {path}")


def _chaos_mesh(fake: FakeKubeApi, method: str, rest: str, body: Any) -> tuple[int, dict]:
    if not fake.chaos_mesh:
        return 404, _status(404, "NotFound", "the server could not find the requested resource")
    if rest == "" and method == "GET":
        resource = {
            "name": "networkchaos",
            "singularName": "networkchaos",
            "namespaced": True,
            "kind": "NetworkChaos",
            "verbs": ["create", "delete", "get", "list"],
        }
        return 200, {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "chaos-mesh.org/v1alpha1",
            "resources": [resource],
        }
    collection = f"/namespaces/{fake.namespace}/networkchaos"
    if rest == collection and method == "GET":
        return 200, {
            "apiVersion": "chaos-mesh.org/v1alpha1",
            "kind": "NetworkChaosList",
            "metadata": {},
            "items": list(fake.custom.values()),
        }
    if rest == collection and method == "POST":
        name = body["metadata"]["name"]
        if name in fake.custom:
            return 409, _status(
                409, "AlreadyExists", f'networkchaos.chaos-mesh.org "{name}" already exists'
            )
        created = {
            **body,
            "metadata": {
                **body["metadata"],
                "namespace": fake.namespace,
                "uid": f"uid-chaos-{name}",
                "creationTimestamp": _now(),
            },
        }
        fake.custom[name] = created
        return 201, created
    if match := re.fullmatch(rf"{collection}/([^/]+)", rest):
        name = match.group(1)
        if name not in fake.custom:
            return 404, _status(404, "NotFound", f'networkchaos.chaos-mesh.org "{name}" not found')
        if method == "DELETE":
            fake.custom.pop(name)
            return 200, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": "chaos-mesh.org", "kind": "networkchaos"},
            }
        return 200, fake.custom[name]
    return 404, _status(
        404, "NotFound", f"the fake API server does not serve {method} {CHAOS}{rest}"
    )


class FakeKubeServer:
    """The fake API server on 127.0.0.1, in a thread; ``url`` for KUBERNETES_HOST."""

    def __init__(self, fake: FakeKubeApi) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeKubeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
