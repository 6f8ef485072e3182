"""Chaos Toolkit probes: the state of the target's services."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import not_available, unmet
from gameday import livestats, locustrun, services
from gameday.errors import GamedayError
from gameday.flapping import FLAP_FILE

__all__ = [
    "answers_again_within",
    "api_not_restarted_during_load",
    "failures_within_down_share",
    "service_is_running",
    "service_status",
]
logger = logging.getLogger("chaostoolkit")


def service_status(
    service: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """{service, program, platform, state, running, pid, uptime} of ``service``."""
    with engine_call(f"read the status of service {service!r}", configuration) as target:
        return services.status(service, target, secrets=secrets)


def service_is_running(
    service: str,
    raise_on_unavailable: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """True while ``service`` runs; for tolerances. An unknown service always raises.

    With ``raise_on_unavailable=False``, an unreachable process manager reads as
    "not running" (and is logged) instead of failing the probe.
    """
    with engine_call(f"check service {service!r}", configuration) as target:
        target.service(service)
        try:
            status = services.status(service, target, secrets=secrets)
        except GamedayError as exc:
            if raise_on_unavailable:
                raise
            logger.warning("service %r reads as not running: %s", service, exc)
            return False
    return bool(status["running"])


def api_not_restarted_during_load(
    service: str = "api", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The API process has been up since before the load began: it recovered by itself.

    Needs an uptime: the process manager's (supervisor) or the youngest ready container's
    (Kubernetes: a restarted container or a replaced pod counts as a restart); a platform
    that gives none is not judged.
    """
    with engine_call(f"tell whether {service} was restarted", configuration) as target:
        run = locustrun.current(target)
        status = services.status(service, target, secrets=secrets)
    since_load = time.time() - datetime.fromisoformat(run["started_at"]).timestamp()
    if status.get("uptime") is None:
        return not_available(
            f"{service} not restarted", f"the {status.get('platform')} platform gives no uptime"
        )
    if status.get("state") != "RUNNING" or status["uptime"] < since_load:
        raise ActivityFailed(
            unmet(
                f"{service} running since the load started {since_load:.0f} s ago, unrestarted",
                f"{status.get('state')} for {status.get('uptime')} s",
            )
        )
    return {**status, "load_started_s_ago": round(since_load, 1)}


def failures_within_down_share(
    margin: float = 0.1,
    endpoint: str | None = None,
    settle_s: float = 2.0,
    allowed: list[int] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """While a service flapped or crashed (``actions.services.flap_service`` or
    ``crash_and_restart_service``, then ``settle_s`` for the requests under way), the load's
    failure ratio (of ``endpoint``, or of every request) is at most the share of the time
    the service was down plus ``margin``: requests fail while it is down, not after it is
    back. With ``allowed``, any other status code over the same seconds is unmet too (code
    0: no HTTP answer, a refused connection)."""
    if not 0 <= margin < 1:
        raise ActivityFailed(f"margin must be in [0, 1), got {margin!r}")
    with engine_call("judge the failures while a service flapped", configuration) as target:
        run = locustrun.current(target)
        flap = _outages(target, run)
        end = flap["ended_at"] + settle_s
        time.sleep(max(0.0, end + 2 - time.time()))  # the live file lags a second
        records = livestats.read_seconds(run["live_file"])
    chosen = [r for r in records if int(flap["began_at"]) <= r["t"] <= int(end)]
    merged = livestats.merge(chosen, endpoint)
    count, failures = merged["count"], merged["failures"]
    ratio = round(failures / count, 4) if count else 0.0
    bound = round(flap["down_share"] + margin, 4)
    facts = {
        "endpoint": endpoint or "every request",
        "count": count,
        "failures": failures,
        "failure_ratio": ratio,
        "codes": merged["codes"],
        "down_share": flap["down_share"],
        "bound": bound,
        "flapping": {k: flap[k] for k in ("service", "cycles", "down_total_s", "began_at")},
    }
    if not count:
        raise ActivityFailed(unmet("requests while the service flapped", "none", figures=facts))
    unexpected = {
        code: n for code, n in merged["codes"].items() if allowed and int(code) not in allowed
    }
    if unexpected:
        raise ActivityFailed(
            unmet(
                f"only {sorted(allowed or [])} while the service was down and after",
                f"{unexpected}",
                figures=facts,
            )
        )
    if ratio > bound:
        raise ActivityFailed(
            unmet(
                f"failure ratio <= {bound} (down {flap['down_share']} of the time + {margin})",
                f"{ratio} ({failures} of {count}: {dict(merged['codes'])})",
                figures=facts,
            )
        )
    return facts


def answers_again_within(
    max_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """After ``actions.services.crash_and_restart_service``, the API's first good answer
    (/readyz 200 and an order acknowledged) came within ``max_s`` of the kill."""
    with engine_call("judge the time to the first good answer", configuration) as target:
        crash = _outages(target, locustrun.current(target))
    if "first_good_answer_s" not in crash:
        raise ActivityFailed("the outage recorded is not a crash: run crash_and_restart_service")
    facts = {
        k: crash[k] for k in ("service", "restarted_s", "first_good_answer_s", "answer_deadline_s")
    }
    answered = crash["first_good_answer_s"]
    if answered is None or answered > max_s:
        seen = "none" if answered is None else f"{answered} s"
        raise ActivityFailed(
            unmet(
                f"a first good answer within {max_s} s of the kill",
                f"{seen} (waited {crash['answer_deadline_s']} s)",
                figures=facts,
            )
        )
    return facts


def _outages(target: Any, run: dict[str, Any]) -> dict[str, Any]:
    """The outages recorded by the current load run's flapping or crash (``FLAP_FILE``)."""
    path = target.state_dir / FLAP_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ActivityFailed(
            f"no outage recorded in {path}: run flap_service or crash_and_restart_service first"
        ) from None
    if record["began_at"] < datetime.fromisoformat(run["started_at"]).timestamp():
        raise ActivityFailed(f"the outages in {path} are older than the current load run")
    return record
