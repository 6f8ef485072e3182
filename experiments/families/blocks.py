"""The pieces every experiment is built from: activities, the shared controls and hypothesis."""

from __future__ import annotations

from typing import Any

ORDERS = "/api/v1/order"
DASHBOARD = "/api/dashboard"
CUSTOMERS = "CoffeeConsumer=10,RushHourCustomer=5,DowntownRegular=3"
CUSTOMERS_AND_VIEWERS = CUSTOMERS + ",DashboardViewer=2"
# The answers a fault may get: 200, 503, and 101 (a dashboard WebSocket opened).
ONLY_200_OR_503 = [101, 200, 503]

# Thresholds, the steady-state sample, the load's request timeout and the safeguards:
# every experiment declares them. The request timeout (read by every load action) is twice
# the largest answer bound any experiment asserts (2.5 s): a hang becomes a recorded failure.
COMMON_CONFIG = {
    "p99_threshold_ms": 200,
    "max_failure_ratio": 0.01,
    "hypothesis_samples": 30,
    "request_timeout_s": 5,
    "safeguard_failure_ratio": 0.5,
    "safeguard_failure_for_s": 240,
}
LOAD_CONFIG = {"users": 50, "spawn_rate": 10, "load_limit_s": 900, "warmup_s": 30}


def var(key: str) -> str:
    """A reference to the configuration key ``key``."""
    return "${" + key + "}"


def activity(
    kind: str,
    name: str,
    module: str,
    func: str,
    /,
    before: Any = None,
    after: Any = None,
    background: bool = False,
    **arguments: Any,
) -> dict[str, Any]:
    """A Chaos Toolkit activity calling ``module.func(**arguments)``."""
    provider: dict[str, Any] = {"type": "python", "module": module, "func": func}
    if arguments:
        provider["arguments"] = arguments
    built: dict[str, Any] = {"type": kind, "name": name, "provider": provider}
    pauses = {key: value for key, value in (("before", before), ("after", after)) if value}
    if pauses:
        built["pauses"] = pauses
    if background:
        built["background"] = True
    return built


def action(name: str, module: str, func: str, /, **kwargs: Any) -> dict[str, Any]:
    return activity("action", name, module, func, **kwargs)


def probe(name: str, module: str, func: str, /, **kwargs: Any) -> dict[str, Any]:
    return activity("probe", name, module, func, **kwargs)


def ref(activity_: dict[str, Any]) -> dict[str, str]:
    """Play a method activity again, by name (Chaos Toolkit's ``ref``), as a rollback."""
    return {"ref": activity_["name"]}


def start_load(
    name: str = "start-load", users: str = "users", duration: str = "load_limit_s", **kwargs: Any
) -> dict[str, Any]:
    """Locust with the experiment's users and classes, bounded by ``duration`` seconds."""
    kwargs.setdefault("after", var("warmup_s"))
    return action(
        name,
        "actions.load",
        "start_load",
        users=var(users),
        spawn_rate=var("spawn_rate"),
        duration_s=var(duration),
        user_classes=var("user_classes"),
        **kwargs,
    )


STOP_LOAD = action("stop-load", "actions.load", "stop_load")


def load_within(name: str, window: str, endpoint: str | None = None, **kwargs: Any) -> dict:
    """Over the last ``window`` seconds of load (answered and still open requests), the
    limits given: ``p99_ms``, ``max_failure_ratio``, ``keeps_pace_at_ms`` (the baseline's
    pace kept were every answer that slow)."""
    pauses = {key: kwargs.pop(key) for key in ("before", "after") if key in kwargs}
    scope = {"endpoint": endpoint} if endpoint else {}
    return probe(
        name, "probes.load", "load_within", **pauses, window_s=var(window), **scope, **kwargs
    )


def healthy_load(name: str, window: str, endpoint: str | None = None, **kwargs: Any) -> dict:
    """``load_within`` the experiment's P99 threshold and failure bound."""
    limits = {"p99_ms": var("p99_threshold_ms"), "max_failure_ratio": var("max_failure_ratio")}
    return load_within(name, window, endpoint, **limits, **kwargs)


def only_200_or_503(name: str, window: str, **pauses: Any) -> dict[str, Any]:
    """Over the last ``window`` seconds of load, no HTTP answer but 200 or 503 (a request open
    past the request timeout is an answer of none, code 0)."""
    return probe(
        name,
        "probes.load",
        "unexpected_answers",
        **pauses,
        window_s=var(window),
        allowed=ONLY_200_OR_503,
    )


def answer(name: str, kind: str, max_ms: Any = 2000) -> dict[str, Any]:
    """One request answers as ``kind`` (``probes.http.ANSWERS``) within ``max_ms``."""
    return probe(name, "probes.http", "answers_within", answer=kind, max_ms=max_ms)


def marker_shown(name: str, within: str, websocket_within: str | None = None, **pauses) -> dict:
    """A marker order shows on the dashboard (and a WebSocket push) within the bounds."""
    pushes = {"websocket_within_s": var(websocket_within)} if websocket_within else {}
    return probe(
        name,
        "probes.freshness",
        "marker_shown_within",
        **pauses,
        within_s=var(within),
        **pushes,
    )


def service_action(verb: str, service: str, name: str | None = None, **kwargs: Any) -> dict:
    """``actions.services.<verb>_service(service)``, named ``<verb>-<service>``."""
    return action(
        name or f"{verb}-{spelling(service)}",
        "actions.services",
        f"{verb}_service",
        **kwargs,
        service=service,
    )


def spelling(service: str) -> str:
    """One spelling in names: postgres (the target's service and proxy are "postgresql")."""
    return "postgres" if service == "postgresql" else service


def _safeguard(name: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider = probe(name, "probes.safety", func, **arguments)["provider"]
    return {"name": name, "type": "probe", "frequency": 1, "tolerance": True, "provider": provider}


# Safeguards stop a run only for harm beyond the plan; unexpected answers during a fault
# are failed expectations judged by the method, so the revert and recovery are measured too.
SAFEGUARDS = [
    _safeguard("kill-switch-is-off", "kill_switch_is_off"),
    _safeguard(
        "failures-do-not-outlast-the-fault",
        "failures_do_not_persist",
        max_failure_ratio=var("safeguard_failure_ratio"),
        for_s=var("safeguard_failure_for_s"),
    ),
]


def controls() -> list[dict[str, Any]]:
    """The safety control first, then chaostoolkit-addons' safeguards."""
    return [
        {
            "name": "coffee-chaos-safety",
            "provider": {"type": "python", "module": "controls.safety"},
        },
        {
            "name": "safeguards",
            "provider": {
                "type": "python",
                "module": "chaosaddons.controls.safeguards",
                "arguments": {"probes": SAFEGUARDS},
            },
        },
    ]


def _sampled(name: str, path: str) -> dict[str, Any]:
    sampled = probe(
        name, "probes.http", "sampled_latency", path=path, samples=var("hypothesis_samples")
    )
    limits = {"p99_ms": var("p99_threshold_ms"), "failure_ratio": var("max_failure_ratio")}
    sampled["tolerance"] = probe("within-limits", "probes.checks", "within", at_most=limits)
    return sampled


def hypothesis(first: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Ready, and orders and the dashboard answer fast (after any ``first`` probes)."""
    ready = probe("readyz-answers-200", "probes.http", "readyz_status")
    ready["tolerance"] = 200
    return {
        "title": "The café is ready, takes orders and serves its dashboard fast",
        "probes": [
            *(first or []),
            ready,
            _sampled("orders-p99-and-failures-within-limits", ORDERS),
            _sampled("dashboard-p99-and-failures-within-limits", DASHBOARD),
        ],
    }


def experiment(
    title: str,
    description: str,
    tags: list[str],
    configuration: dict[str, Any],
    method: list[dict[str, Any]],
    rollbacks: list[dict[str, Any]],
    hypothesis_first: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One experiment with the shared controls, hypothesis and thresholds."""
    return {
        "version": "1.0.0",
        "title": title,
        "description": description,
        "tags": tags,
        "configuration": {
            "load_workers": 0,
            **configuration,
            **_unset(COMMON_CONFIG, configuration),
        },
        "controls": controls(),
        "steady-state-hypothesis": hypothesis(hypothesis_first),
        "method": method,
        "rollbacks": rollbacks,
    }


def catches(
    body: dict[str, Any], flaws: dict[str, str], kubernetes_only: str | None = None
) -> dict[str, Any]:
    """Declare the café flaws (``CAFE_FLAWS``) this experiment must catch, each with the
    method probe that must fail on it: the detection matrix (``tests/test_detection.py``).
    An experiment that runs on Kubernetes only says why (``kubernetes_only``): the matrix
    runs on the supervisor lab, so it declares no flaw and is left out of it.
    Kept in Chaos Toolkit's ``extensions``, where tools keep their own data."""
    names = {activity["name"] for activity in body["method"]}
    unknown = {flaw: name for flaw, name in flaws.items() if name not in names}
    if unknown:
        raise ValueError(f"{body['title']}: no method probe named {unknown}")
    if kubernetes_only and flaws:
        raise ValueError(f"{body['title']}: the lab's matrix cannot show a Kubernetes-only catch")
    ours: dict[str, Any] = {"name": "coffee-chaos", "catches": dict(flaws)}
    if kubernetes_only:
        ours.update(platforms=["kubernetes"], not_in_the_matrix_because=kubernetes_only)
    return {**body, "extensions": [ours]}


def _unset(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in defaults.items() if key not in given}
