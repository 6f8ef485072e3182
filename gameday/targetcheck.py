"""What a target offers, and which experiments it can be judged by (``gameday check-target``).

Every experiment relies on the target contract; some probes need more (the
reference café's aggregator metrics, its pool gauge, a process manager the
toolkit controls, the fault proxy in the API's path; on Kubernetes, the pods'
status, Chaos Mesh, the API's autoscaler and several API pods). ``check`` probes each
signal once; ``applicability`` reads an experiment's activities and says
whether it applies fully, partly (an optional signal is missing: the
experiment reports what it could not judge) or not at all (a signal it needs
is missing), and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from psycopg import sql

from gameday import kube, services
from gameday.errors import GamedayError
from gameday.httpcheck import HttpCheckError, call, fetch_text, require_loopback
from gameday.postgres import connect, dsn_for
from gameday.target import Target

__all__ = ["SIGNALS", "Applicability", "Signal", "applicability", "check"]

CONTRACT_METRICS = ("http_requests_total", "http_request_duration_seconds", "orders_created_total")


@dataclass(frozen=True)
class Signal:
    """One thing a target may offer, and whether it does (with the evidence)."""

    name: str
    meaning: str
    offered: bool = False
    evidence: str = ""


SIGNALS = {
    "api": "the contract's HTTP API answers (/livez, /readyz, /api/dashboard)",
    "websocket": "/ws/dashboard accepts a WebSocket (the dashboard's pushes)",
    "metrics": "the API's /metrics has the contract's metrics",
    "prometheus": "Prometheus answers and holds the API's request histogram",
    "service-control": "the toolkit controls every declared service (supervisor or Kubernetes)",
    "process-facts": "uptime and memory of the services' processes (supervisor only)",
    "pod-status": "Kubernetes: every service's ready pods, restarts and container start times",
    "chaos-mesh": "Kubernetes: Chaos Mesh serves NetworkChaos in the API's namespace",
    "autoscaler": "Kubernetes: the API has a HorizontalPodAutoscaler (kubernetes.autoscaler)",
    "api-replicas": "Kubernetes: at least two ready API pods behind its Service",
    "fault-proxy": "the API's connections to redis and postgresql pass through the fault proxy",
    "database": "the toolkit's credentials reach PostgreSQL and the contract's orders table",
    "aggregator-metrics": "reference café only: the aggregator's pass metrics",
    "pool-gauge": "reference café only: the API's db_pool_waiting gauge in /metrics",
}

# What each activity needs (module, or module.func for an exception), and what it can do
# without, saying "not available on this target" instead of judging. "a|b": either will do.
NEEDS: dict[str, tuple[set[str], set[str]]] = {
    "actions.load": ({"api"}, set()),
    "actions.capacity": ({"api"}, set()),
    "actions.orders": ({"api"}, set()),
    "actions.services": ({"service-control"}, set()),
    "actions.services.kill_aggregator_mid_pass": ({"service-control"}, {"aggregator-metrics"}),
    "actions.services.kill_one_pod": ({"service-control", "api-replicas"}, set()),
    "actions.services.crash_and_restart_service": ({"service-control", "api"}, set()),
    "actions.network": ({"fault-proxy|chaos-mesh"}, set()),
    "actions.config": ({"service-control", "process-facts"}, set()),
    "actions.host": ({"process-facts"}, set()),  # stress-ng beside the API's process
    "actions.seed": ({"database"}, set()),
    "actions.cache": ({"api"}, set()),
    "probes.http": ({"api"}, {"metrics"}),
    "probes.freshness": ({"api", "websocket"}, set()),
    "probes.load": ({"api"}, {"prometheus"}),
    "probes.postgres": ({"database"}, set()),
    "probes.orders": ({"database"}, set()),
    "probes.redis": (set(), set()),
    "probes.process": (set(), {"process-facts"}),
    "probes.services": ({"service-control"}, set()),
    "probes.services.api_not_restarted_during_load": (set(), {"process-facts|pod-status"}),
    "probes.services.failures_within_down_share": ({"service-control", "api"}, set()),
    "probes.services.answers_again_within": ({"service-control", "api"}, set()),
    "probes.prometheus": ({"prometheus"}, set()),
    "probes.aggregator": (set(), {"aggregator-metrics"}),
    "probes.capacity.pool_waiting_during": (set(), {"pool-gauge"}),
    "probes.capacity": ({"api"}, set()),
    "probes.websocket": ({"websocket", "process-facts|pod-status"}, {"process-facts"}),
    "probes.autoscaling": ({"api", "autoscaler", "pod-status"}, set()),
    "probes.pods": ({"api", "api-replicas"}, set()),
    "probes.soak": ({"database", "prometheus"}, {"process-facts"}),
}


@dataclass(frozen=True)
class Applicability:
    """How fully an experiment can judge this target, and why not more."""

    experiment: str
    verdict: str  # "fully", "partly" or "no"
    missing: list[str]


def check(target: Target) -> dict[str, Signal]:
    """Probe every signal of ``target`` once."""
    probes: dict[str, Callable[[Target], str]] = {
        "api": _api,
        "websocket": _websocket,
        "metrics": _metrics,
        "prometheus": _prometheus,
        "service-control": _service_control,
        "process-facts": _process_facts,
        "fault-proxy": _fault_proxy,
        "database": _database,
        "aggregator-metrics": _aggregator_metrics,
        "pool-gauge": _pool_gauge,
        "pod-status": _pod_status,
        "chaos-mesh": _chaos_mesh,
        "autoscaler": _autoscaler,
        "api-replicas": _api_replicas,
    }
    found = {}
    for name, probe in probes.items():
        try:
            evidence, offered = probe(target), True
        except (GamedayError, OSError, requests.RequestException, ValueError, KeyError) as exc:
            evidence, offered = str(exc) or type(exc).__name__, False
        found[name] = Signal(name, SIGNALS[name], offered, evidence)
    return found


def applicability(experiment: Path, signals: dict[str, Signal]) -> Applicability:
    """Whether ``experiment`` applies fully, partly or not at all to a target with ``signals``."""
    body = json.loads(experiment.read_text())
    required, optional = set(), set()
    for activity in [*body.get("method", []), *body["steady-state-hypothesis"]["probes"]]:
        provider = activity.get("provider", {})
        module, func = provider.get("module", ""), provider.get("func", "")
        needs, nice = NEEDS.get(f"{module}.{func}") or NEEDS.get(module, (set(), set()))
        required |= needs
        optional |= nice
    lacking = sorted(_label(need) for need in required if not _met(need, signals))
    if lacking:
        return Applicability(experiment.stem, "no", lacking)
    partial = sorted(_label(need) for need in optional - required if not _met(need, signals))
    return Applicability(experiment.stem, "partly" if partial else "fully", partial)


def _met(need: str, signals: dict[str, Signal]) -> bool:
    return any(signals[name].offered for name in need.split("|"))


def _label(need: str) -> str:
    return need.replace("|", " or ")


def _api(target: Target) -> str:
    require_loopback(target.api_url, allow_remote=True)
    for path in ("/livez", "/readyz", "/api/dashboard"):
        answer = call(target.api_url, "GET", path, 5)
        if answer.status not in (200, 503):
            raise HttpCheckError(f"GET {path} answered {answer.status}")
    return f"{target.api_url} answers /livez, /readyz and /api/dashboard"


def _websocket(target: Target) -> str:
    import websocket

    url = "ws" + target.api_url.removeprefix("http") + "/ws/dashboard"
    sock = websocket.create_connection(url, timeout=5)
    sock.close()
    return f"{url} accepts a WebSocket"


def _metrics(target: Target) -> str:
    text = fetch_text(target.api_url, "/metrics") or ""
    missing = [name for name in CONTRACT_METRICS if name not in text]
    if missing:
        raise ValueError(f"{target.api_url}/metrics lacks {', '.join(missing)}")
    return f"{target.api_url}/metrics has the contract's metrics"


def _prometheus(target: Target) -> str:
    answer = requests.get(
        f"{target.prometheus_url}/api/v1/query",
        params={"query": "count(http_request_duration_seconds_bucket)"},
        timeout=5,
    ).json()
    if not answer.get("data", {}).get("result"):
        raise ValueError(f"{target.prometheus_url} holds no http_request_duration_seconds")
    return f"{target.prometheus_url} holds the API's request histogram"


def _service_control(target: Target) -> str:
    states = {name: services.status(name, target)["state"] for name in target.services}
    return f"{target.platform}: " + ", ".join(f"{n} {s}" for n, s in sorted(states.items()))


def _process_facts(target: Target) -> str:
    if target.platform != "supervisor":
        raise ValueError(f"the {target.platform} platform gives no process uptime or memory")
    return "supervisor gives each service's pid and uptime"


def _kubernetes(target: Target) -> None:
    if target.platform != "kubernetes":
        raise ValueError(f"the {target.platform} platform has no pods")


def _pod_status(target: Target) -> str:
    _kubernetes(target)
    facts = {name: services.status(name, target) for name in target.services}
    return ", ".join(
        f"{n} {f['ready']} ready, {f['restarts']} restarts" for n, f in sorted(facts.items())
    )


def _chaos_mesh(target: Target) -> str:
    _kubernetes(target)
    from chaosk8s.chaosmesh.network.probes import get_network_faults

    work = kube.workload(target.service("api"))
    listed = kube.call(work, "list NetworkChaos", lambda: get_network_faults(work.namespace))
    return f"NetworkChaos served in {work.namespace} ({len(listed.get('items', []))} present)"


def _autoscaler(target: Target) -> str:
    _kubernetes(target)
    work = kube.workload(target.service("api"))
    hpa = kube.autoscaler_status(work)
    return (
        f"HorizontalPodAutoscaler {work.autoscaler}: {hpa['min']}-{hpa['max']} replicas, "
        f"{hpa['desired']} desired, CPU {hpa['cpu_utilization']} %"
    )


def _api_replicas(target: Target) -> str:
    _kubernetes(target)
    work = kube.workload(target.service("api"))
    ready = [p.name for p in kube.pods(work) if p.serving]
    if len(ready) < 2:
        raise ValueError(f"{len(ready)} ready API pod(s): killing one of several needs 2")
    if not work.endpoints:
        raise ValueError("kubernetes.service (the API's Service) is not set in the target file")
    return f"{len(ready)} ready API pods behind Service {work.endpoints}"


def _fault_proxy(target: Target) -> str:
    routed = requests.get(f"{target.faultproxy_url}/proxies", timeout=5).json()
    missing = [name for name in ("redis", "postgresql") if target.proxies.get(name) not in routed]
    if missing:
        raise ValueError(
            f"no fault proxy route for {', '.join(missing)} at {target.faultproxy_url}"
        )
    return f"{target.faultproxy_url} routes " + ", ".join(sorted(routed))


def _database(target: Target) -> str:
    orders = sql.Identifier(target.postgres_schema, "orders")
    with connect(dsn_for(target), "count the orders", "coffee-chaos-check") as conn:
        (count,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(orders)).fetchone()
    return f"{target.postgres_schema}.orders holds {count} orders"


def _aggregator_metrics(target: Target) -> str:
    url = target.aggregator_metrics_url
    text = requests.get(url, timeout=3).text
    if "aggregator_pass_in_progress" not in text:
        raise ValueError(f"{url} has no aggregator_pass_in_progress")
    return f"{url} has the pass metrics"


def _pool_gauge(target: Target) -> str:
    text = fetch_text(target.api_url, "/metrics") or ""
    if "db_pool_waiting" not in text:
        raise ValueError(f"{target.api_url}/metrics has no db_pool_waiting")
    return "db_pool_waiting is exposed"


def describe(signals: dict[str, Signal], verdicts: list[Applicability]) -> str:
    """The report ``gameday check-target`` prints."""
    lines = ["Signals:"]
    for signal in signals.values():
        mark = "yes" if signal.offered else "no "
        lines.append(f"  {mark}  {signal.name:19} {signal.meaning}")
        lines.append(f"       {'':19} {signal.evidence}")
    lines.append("Experiments:")
    for item in verdicts:
        why = ""
        if item.missing:
            kind = "needs" if item.verdict == "no" else "not judged without"
            why = f"{kind} {', '.join(item.missing)}"
        lines.append(f"  {item.verdict:7} {item.experiment:28} {why}")
    return "\n".join(lines)


def as_dict(signals: dict[str, Signal], verdicts: list[Applicability]) -> dict[str, Any]:
    return {
        "signals": {
            s.name: {"offered": s.offered, "evidence": s.evidence} for s in signals.values()
        },
        "experiments": {
            v.experiment: {"applies": v.verdict, "missing": v.missing} for v in verdicts
        },
    }
