"""Network faults on Kubernetes through Chaos Mesh (chaosk8s.chaosmesh): the counterpart of
the fault proxy. A NetworkChaos object selects the API's pods and delays (``latency``) or
drops (``timeout``: every packet, so connections hang) their traffic TO the dependency's pods.

Each object is recorded in the ledger (kind ``networkchaos``) before it is created, and
``revert`` deletes it (deleting one already gone is a no-op), so rollbacks, ``gameday
recover`` and ``make recover`` remove it. Needs Chaos Mesh installed in the cluster.
"""

from __future__ import annotations

from typing import Any

from gameday import kube
from gameday.errors import KubernetesError, NetFaultError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["PREFIX", "inject", "remove", "revert"]

PREFIX = "coffee-chaos-"
ACTIONS = {"latency": "delay", "timeout": "loss 100%"}
Secrets = dict[str, Any] | None


def inject(target: Target, dependency: str, fault: Any, secrets: Secrets = None) -> dict[str, Any]:
    """Create the NetworkChaos for ``fault`` (a ``netfault.Fault``) on the API's traffic to
    ``dependency``; return what was created and its ledger id."""
    if fault.kind not in ACTIONS:
        raise NetFaultError(
            f"Chaos Mesh cannot {fault.kind} connections here: use latency or timeout towards "
            f"{dependency!r} (reset and bandwidth need the fault proxy)"
        )
    api = kube.workload(target.service("api"))
    towards = kube.workload(target.service(dependency))
    name = f"{PREFIX}{fault.kind}-{dependency}"
    links = {
        "ns": api.namespace,
        "namespaces_selectors": api.namespace,
        "label_selectors": api.selector,
        "mode": "all",
        "direction": "to",
        "target_mode": "all",
        "target_namespaces_selectors": towards.namespace,
        "target_label_selectors": towards.selector,
        "secrets": secrets,
    }
    ledger = ledger_for(target)
    entry_id = ledger.record(
        "networkchaos",
        dependency,
        {"name": name, "namespace": api.namespace},
        note=f"NetworkChaos {name} ({ACTIONS[fault.kind]}) from {api.selector} to {towards.selector}",
    )
    try:
        created = kube.call(api, f"create NetworkChaos {name}", lambda: _create(name, fault, links))
    except NetFaultError:
        ledger.resolve(entry_id)
        raise
    except Exception as exc:
        ledger.resolve(entry_id)  # nothing was created
        raise NetFaultError(f"{exc}: is Chaos Mesh installed in the cluster?") from None
    return {
        "dependency": dependency,
        "backend": "chaosmesh",
        "networkchaos": name,
        "namespace": api.namespace,
        "action": created.get("spec", {}).get("action"),
        "ledger_id": entry_id,
    }


def remove(target: Target, dependency: str, secrets: Secrets = None) -> list[dict[str, Any]]:
    """Delete our NetworkChaos objects towards ``dependency``: those the ledger holds (their
    entries are resolved) and any left over with our names."""
    removed = []
    ledger = ledger_for(target)
    for entry in ledger.entries():
        if entry["kind"] == "networkchaos" and entry["subject"] == dependency:
            removed.append(revert(entry, target))
            ledger.resolve(entry["id"])
    api = kube.workload(target.service("api"))
    for name in _ours(api, dependency, secrets):
        removed.append(revert({"revert": {"name": name, "namespace": api.namespace}}, target))
    return [r for r in removed if r["removed"]]


def revert(entry: dict, target: Target, secrets: Secrets = None) -> dict[str, Any]:
    """Delete the NetworkChaos of a ``networkchaos`` ledger entry; gone already is a no-op."""
    from chaosk8s.chaosmesh.network.actions import delete_network_fault

    name, ns = entry["revert"]["name"], entry["revert"]["namespace"]
    try:
        delete_network_fault(name=name, ns=ns, secrets=secrets)
    except Exception as exc:  # chaosk8s wraps the client's ApiException in ActivityFailed
        if "Not Found" not in str(exc):
            raise NetFaultError(f"could not delete NetworkChaos {name} in {ns}: {exc}") from None
        return {"backend": "chaosmesh", "networkchaos": name, "removed": False}
    return {"backend": "chaosmesh", "networkchaos": name, "removed": True}


def _create(name: str, fault: Any, links: dict[str, Any]) -> dict[str, Any]:
    from chaosk8s.chaosmesh.network import actions

    if fault.kind == "latency":
        return actions.add_latency(
            name, latency=f"{fault.latency_ms}ms", jitter=f"{fault.jitter_ms}ms", **links
        )
    return actions.set_loss(name, loss="100", **links)


def _ours(api: kube.Workload, dependency: str, secrets: Secrets) -> list[str]:
    from chaosk8s.chaosmesh.network.probes import get_network_faults

    try:
        listed = kube.call(
            api, "list the NetworkChaos objects", lambda: get_network_faults(api.namespace, secrets)
        )
    except KubernetesError as exc:
        if "HTTP 404" in str(exc) or "'Not Found'" in str(exc):
            return []  # no Chaos Mesh: none of ours can exist
        raise
    names = [item["metadata"]["name"] for item in listed.get("items", [])]
    return [n for n in names if n.startswith(PREFIX) and n.endswith(f"-{dependency}")]
