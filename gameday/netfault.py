"""Network faults between the API and a dependency: latency, timeouts, resets, bandwidth.

Three backends behind one interface. ``proxy`` drives the Toxiproxy-compatible fault
proxy (``target.faultproxy_url``) that carries the API's traffic to the dependency;
``netem`` adds a ``tc ... netem`` root qdisc on a host interface (real hosts, root,
a kernel with netem); ``chaosmesh`` creates a Chaos Mesh NetworkChaos on a Kubernetes
target (``gameday.chaosmesh``). ``auto`` picks the proxy when the target routes the
dependency through it, else Chaos Mesh on Kubernetes, else netem. Every injection is
recorded in the ledger before it is made. The proxy and netem parts need only the
standard library: recovery removes toxics with the machine's python3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gameday.errors import NetFaultError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["BACKENDS", "KINDS", "Fault", "active", "inject", "remove", "revert"]

KINDS = {
    "latency": "latency",
    "timeout": "timeout",
    "reset": "reset_peer",
    "bandwidth": "bandwidth",
}
BACKENDS = ("auto", "proxy", "netem", "chaosmesh")
TOXIC_PREFIX = "coffee-chaos-"
HTTP_TIMEOUT_S = 5.0
TC_TIMEOUT_S = 10.0
NO_NETEM_MARKS = ("unknown qdisc", "qdisc kind is unknown", "no such file")


@dataclass(frozen=True)
class Fault:
    """One network fault and its magnitude, checked when made.

    ``latency`` delays the dependency's replies by latency_ms ± jitter_ms;
    ``timeout`` holds the traffic (the proxy closes after timeout_ms, 0 = never;
    netem drops every packet); ``reset`` resets connections after timeout_ms (proxy only);
    ``bandwidth`` passes the replies at rate_kbps KB/s. ``toxicity`` is the share of the
    connections the fault applies to (the proxy rolls it once per connection; 1: all).
    """

    kind: str
    latency_ms: int = 0
    jitter_ms: int = 0
    timeout_ms: int = 0
    toxicity: float = 1.0
    rate_kbps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NetFaultError(
                f"unknown network fault {self.kind!r}: use one of {', '.join(KINDS)}"
            )
        for name in ("latency_ms", "jitter_ms", "timeout_ms", "rate_kbps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise NetFaultError(
                    f"{name} must be a whole number of milliseconds >= 0, not {value!r}"
                )
        if self.kind == "latency" and self.latency_ms == 0:
            raise NetFaultError("a latency fault needs latency_ms > 0")
        if self.kind == "latency" and self.jitter_ms > self.latency_ms:
            raise NetFaultError(
                f"jitter_ms ({self.jitter_ms}) must not exceed latency_ms ({self.latency_ms})"
            )
        if self.kind == "bandwidth" and self.rate_kbps == 0:
            raise NetFaultError("a bandwidth fault needs rate_kbps >= 1 (KB/s)")
        toxicity = self.toxicity
        if isinstance(toxicity, bool) or not isinstance(toxicity, int | float):
            raise NetFaultError(f"toxicity must be a number in (0, 1], not {toxicity!r}")
        if not 0 < toxicity <= 1:
            raise NetFaultError(
                f"toxicity must be in (0, 1] (the share of connections affected), not "
                f"{toxicity!r}: 0 would inject nothing"
            )

    @property
    def toxic_attributes(self) -> dict[str, int]:
        """The Toxiproxy toxic's attributes."""
        if self.kind == "latency":
            return {"latency": self.latency_ms, "jitter": self.jitter_ms}
        if self.kind == "bandwidth":
            return {"rate": self.rate_kbps}
        return {"timeout": self.timeout_ms}

    @property
    def netem_rule(self) -> list[str]:
        """The ``tc ... netem`` arguments; netem cannot reset connections."""
        if self.kind == "reset":
            raise NetFaultError("netem cannot reset connections: use backend 'proxy' for 'reset'")
        if self.toxicity < 1:
            raise NetFaultError(
                f"netem applies to every packet, not to a share of the connections: use "
                f"backend 'proxy' for toxicity {self.toxicity:g}"
            )
        if self.kind == "latency":
            return ["delay", f"{self.latency_ms}ms", f"{self.jitter_ms}ms"]
        if self.kind == "bandwidth":
            return ["rate", f"{self.rate_kbps * 8}kbit"]
        return ["loss", "100%"]


def inject(
    target: Target,
    dependency: str,
    kind: str = "latency",
    latency_ms: int = 0,
    jitter_ms: int = 0,
    timeout_ms: int = 0,
    backend: str = "auto",
    toxicity: float = 1.0,
    rate_kbps: int = 0,
) -> dict[str, Any]:
    """Inject one fault (see ``Fault``) towards ``dependency``; return what was injected
    and its ledger id."""
    fault = Fault(
        kind,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        timeout_ms=timeout_ms,
        toxicity=toxicity,
        rate_kbps=rate_kbps,
    )
    if backend not in BACKENDS:
        raise NetFaultError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    chosen = _choose(target, dependency, backend)
    if chosen == "proxy":
        return _inject_toxic(target, dependency, fault)
    if chosen == "chaosmesh":
        from gameday import chaosmesh

        if fault.toxicity < 1:
            raise NetFaultError(
                f"toxicity {fault.toxicity:g} needs the fault proxy: Chaos Mesh applies a "
                "fault to every connection of the pods it selects"
            )
        return chaosmesh.inject(target, dependency, fault)
    return _inject_qdisc(target, dependency, fault)


def remove(target: Target, dependency: str) -> dict[str, Any]:
    """Remove every coffee-chaos fault towards ``dependency`` and resolve its entries."""
    removed: list[dict[str, Any]] = []
    if dependency in target.proxies:
        proxy = target.proxy(dependency)
        for toxic in _toxics(target.faultproxy_url, proxy):
            if toxic["name"].startswith(TOXIC_PREFIX):
                _delete_toxic(target.faultproxy_url, proxy, toxic["name"])
                removed.append({"backend": "proxy", "proxy": proxy, "toxic": toxic["name"]})
    ledger = ledger_for(target)
    for entry in ledger.entries():
        if entry["kind"] in ("toxic", "qdisc") and entry["subject"] == dependency:
            result = revert(entry, target)
            ledger.resolve(entry["id"])
            if entry["kind"] == "qdisc" and result["removed"]:
                removed.append(result)
    if target.platform == "kubernetes":
        from gameday import chaosmesh

        removed.extend(chaosmesh.remove(target, dependency))
    return {"dependency": dependency, "removed": removed}


def active(target: Target) -> list[dict[str, Any]]:
    """The network faults in force: toxics on the target's proxies, recorded qdiscs."""
    faults = []
    for dependency, proxy in sorted(target.proxies.items()):
        for toxic in _toxics(target.faultproxy_url, proxy):
            faults.append(
                {
                    "dependency": dependency,
                    "backend": "proxy",
                    "proxy": proxy,
                    "toxic": toxic["name"],
                    "type": toxic.get("type"),
                    "attributes": toxic.get("attributes", {}),
                    "ours": toxic["name"].startswith(TOXIC_PREFIX),
                }
            )
    for entry in ledger_for(target).entries():
        if entry["kind"] == "qdisc":
            faults.append(
                {
                    "dependency": entry["subject"],
                    "backend": "netem",
                    "interface": entry["revert"]["interface"],
                    "note": entry["note"],
                }
            )
    return faults


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Undo a "toxic" or "qdisc" ledger entry; undoing what is already gone is a no-op."""
    spec = entry.get("revert", {})
    if entry.get("kind") == "toxic":
        url = spec.get("faultproxy_url") or target.faultproxy_url
        gone = _delete_toxic(url, spec["proxy"], spec["toxic"])
        return {"backend": "proxy", "proxy": spec["proxy"], "toxic": spec["toxic"], "removed": gone}
    if entry.get("kind") == "qdisc":
        return _delete_qdisc(spec["interface"])
    raise NetFaultError(
        f"ledger entry {entry.get('id')} has kind {entry.get('kind')!r}, not toxic or qdisc"
    )


# --- backend choice -------------------------------------------------------------------------


def _choose(target: Target, dependency: str, backend: str) -> str:
    if backend == "proxy":
        target.proxy(dependency)  # raises TargetError naming the proxied dependencies
        return "proxy"
    if backend == "auto" and dependency in target.proxies:
        return "proxy"
    target.service(dependency)  # netem, Chaos Mesh: the dependency must at least be declared
    if backend == "chaosmesh" or (backend == "auto" and target.platform == "kubernetes"):
        if target.platform != "kubernetes":
            raise NetFaultError(
                f"backend 'chaosmesh' needs the kubernetes platform (the target is on "
                f"{target.platform})"
            )
        return "chaosmesh"
    return "netem"


# --- proxy backend (Toxiproxy API) ----------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status_code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.text)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an HTTP proxy


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> _Response:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_S) as response:
            return _Response(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return _Response(exc.code, exc.read().decode(errors="replace"))
    except OSError as exc:  # URLError, refused, timed out
        raise NetFaultError(
            f"cannot reach the fault proxy at {url} ({getattr(exc, 'reason', exc)}): is the "
            "`faultproxy` program running (`supervisorctl start faultproxy`)?"
        ) from None


def _toxics(base_url: str, proxy: str) -> list[dict[str, Any]]:
    response = _http("GET", f"{base_url}/proxies/{proxy}/toxics")
    if response.status_code == 404:
        raise NetFaultError(
            f"the fault proxy at {base_url} has no proxy {proxy!r}: "
            "check `proxies` in the target file and the proxy's config"
        )
    if not response.ok:
        raise NetFaultError(
            f"the fault proxy at {base_url} refused to list toxics of "
            f"{proxy!r}: HTTP {response.status_code} {response.text[:200]}"
        )
    return response.json()


def _inject_toxic(target: Target, dependency: str, fault: Fault) -> dict[str, Any]:
    proxy = target.proxy(dependency)
    base_url = target.faultproxy_url
    _toxics(base_url, proxy)  # the proxy answers and knows this proxy, before anything changes
    name = f"{TOXIC_PREFIX}{fault.kind}"
    kind, attributes = KINDS[fault.kind], fault.toxic_attributes
    body = {
        "name": name,
        "type": kind,
        "stream": "downstream",
        "toxicity": fault.toxicity,
        "attributes": attributes,
    }
    share = f", toxicity {fault.toxicity:g}" if fault.toxicity < 1 else ""
    ledger = ledger_for(target)
    entry_id = ledger.record(
        "toxic",
        dependency,
        {"proxy": proxy, "toxic": name, "faultproxy_url": base_url},
        note=f"{kind} toxic {attributes}{share} on proxy {proxy}",
    )
    response = _http("POST", f"{base_url}/proxies/{proxy}/toxics", body)
    if not response.ok:
        ledger.resolve(entry_id)  # the proxy refused: nothing was injected
        if response.status_code == 409:
            raise NetFaultError(
                f"proxy {proxy!r} already has a toxic {name!r}: remove it first "
                f"(remove_network_faults dependency={dependency!r})"
            )
        raise NetFaultError(
            f"the fault proxy refused toxic {name!r} on {proxy!r}: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )
    return {
        "dependency": dependency,
        "backend": "proxy",
        "proxy": proxy,
        "toxic": name,
        "type": kind,
        "attributes": attributes,
        "toxicity": fault.toxicity,
        "ledger_id": entry_id,
    }


def _delete_toxic(base_url: str, proxy: str, toxic: str) -> bool:
    response = _http("DELETE", f"{base_url}/proxies/{proxy}/toxics/{toxic}")
    if response.status_code == 404:
        return False
    if not response.ok:
        raise NetFaultError(
            f"the fault proxy at {base_url} refused to delete toxic "
            f"{toxic!r} of {proxy!r}: HTTP {response.status_code}"
        )
    return True


# --- netem backend --------------------------------------------------------------------------


def _tc(*args: str) -> subprocess.CompletedProcess:
    tc = shutil.which("tc")
    if not tc:
        raise NetFaultError(
            "`tc` (iproute2) is not installed here: install it, or use backend 'proxy'"
        )
    try:
        return subprocess.run(
            [tc, *args], capture_output=True, text=True, timeout=TC_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise NetFaultError(
            f"`tc {' '.join(args)}` did not finish within {TC_TIMEOUT_S:g} s"
        ) from None


def _inject_qdisc(target: Target, dependency: str, fault: Fault) -> dict[str, Any]:
    rule = fault.netem_rule
    interface = target.netem_interface
    if not interface:
        raise NetFaultError(
            f"the netem backend needs the interface towards {dependency!r}: set "
            "`netem_interface` in the experiment's configuration"
        )
    ledger = ledger_for(target)
    entry_id = ledger.record(
        "qdisc",
        dependency,
        {"interface": interface},
        note=f"tc qdisc add dev {interface} root netem {' '.join(rule)}",
    )
    try:
        done = _tc("qdisc", "add", "dev", interface, "root", "netem", *rule)
    except NetFaultError:
        ledger.resolve(entry_id)
        raise
    if done.returncode != 0:
        ledger.resolve(entry_id)  # tc refused: nothing was changed
        error = done.stderr.strip()
        if any(mark in error.lower() for mark in NO_NETEM_MARKS):
            raise NetFaultError(
                f"this kernel has no netem (tc: {error}): use backend 'proxy' to inject "
                f"{fault.kind} towards {dependency!r}"
            )
        raise NetFaultError(f"tc could not add netem on {interface!r}: {error}")
    return {
        "dependency": dependency,
        "backend": "netem",
        "interface": interface,
        "rule": " ".join(rule),
        "ledger_id": entry_id,
    }


def _delete_qdisc(interface: str) -> dict[str, Any]:
    shown = _tc("qdisc", "show", "dev", interface)
    if shown.returncode != 0 or "qdisc netem" not in shown.stdout:
        return {"backend": "netem", "interface": interface, "removed": False}
    done = _tc("qdisc", "del", "dev", interface, "root")
    if done.returncode != 0:
        raise NetFaultError(f"tc could not remove netem on {interface!r}: {done.stderr.strip()}")
    return {"backend": "netem", "interface": interface, "removed": True}
