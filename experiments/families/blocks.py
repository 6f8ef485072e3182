"""The pieces every experiment is built from: activities, the shared controls and hypothesis."""

from __future__ import annotations

from typing import Any

ORDERS = "/api/v1/order"
DASHBOARD = "/api/dashboard"
CUSTOMERS = "CoffeeConsumer=10,RushHourCustomer=5,DowntownRegular=3"
CUSTOMERS_AND_VIEWERS = CUSTOMERS + ",DashboardViewer=2"
ONLY_200_OR_503 = [200, 503]

# Thresholds, the steady-state sample and the safeguards: every experiment declares them.
COMMON_CONFIG = {
    "p99_threshold_ms": 200,
    "max_failure_ratio": 0.01,
    "hypothesis_samples": 30,
    "safeguard_unexpected_window_s": 5,
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


def expect(name: str, func: str, /, **kwargs: Any) -> dict[str, Any]:
    """A probe of ``probes.expect``: what the operators expect, failing when it does not hold."""
    return probe(name, "probes.expect", func, **kwargs)


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


def healthy_load(name: str, window: str, endpoint: str | None = None, **pauses: Any) -> dict:
    """Over the last ``window`` seconds of load, P99 and failure ratio within bounds."""
    scope = {"endpoint": endpoint} if endpoint else {}
    return expect(
        name,
        "load_is_healthy",
        **pauses,
        window_s=var(window),
        **scope,
        p99_ms=var("p99_threshold_ms"),
        max_failure_ratio=var("max_failure_ratio"),
    )


def only_200_or_503(name: str, window: str, **pauses: Any) -> dict[str, Any]:
    """Over the last ``window`` seconds of load, no answer but 200 or 503."""
    return expect(
        name, "only_expected_answers", **pauses, window_s=var(window), allowed=ONLY_200_OR_503
    )


def p99_at_most(name: str, window: str, bound: Any, endpoint: str | None = None, **pauses: Any):
    """Over the last ``window`` seconds, answers (good or bad) came with P99 within ``bound``."""
    scope = {"endpoint": endpoint} if endpoint else {}
    return expect(name, "load_p99_at_most", **pauses, window_s=var(window), **scope, p99_ms=bound)


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


KILL_SWITCH = _safeguard("kill-switch-is-off", "kill_switch_is_off")
EXPECTED_ANSWERS = _safeguard(
    "no-answers-but-the-expected-ones",
    "answers_are_expected",
    window_s=var("safeguard_unexpected_window_s"),
    allowed=ONLY_200_OR_503,
)
FAILURES_END = _safeguard(
    "failures-do-not-outlast-the-fault",
    "failures_do_not_persist",
    max_failure_ratio=var("safeguard_failure_ratio"),
    for_s=var("safeguard_failure_for_s"),
)
SAFEGUARDS = [KILL_SWITCH, EXPECTED_ANSWERS, FAILURES_END]


def controls(safeguards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The safety control first, then chaostoolkit-addons' safeguards."""
    return [
        {
            "name": "coffee-chaos-safety",
            "provider": {"type": "python", "module": "gameday.controls"},
        },
        {
            "name": "safeguards",
            "provider": {
                "type": "python",
                "module": "chaosaddons.controls.safeguards",
                "arguments": {"probes": safeguards},
            },
        },
    ]


def _sampled(name: str, path: str) -> dict[str, Any]:
    sampled = expect(name, "sampled_latency", path=path, samples=var("hypothesis_samples"))
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
    safeguards: list[dict[str, Any]] | None = None,
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
        "controls": controls(safeguards or SAFEGUARDS),
        "steady-state-hypothesis": hypothesis(hypothesis_first),
        "method": method,
        "rollbacks": rollbacks,
    }


def _unset(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in defaults.items() if key not in given}
