"""Chaos Toolkit probes of the API's HorizontalPodAutoscaler under a load step
(``hpa-spike``; Kubernetes only): the scale-out within a bound, the answers during it, the
P99 once the new pods are ready, the scale-in after the drop without failed requests.

The load step is ``step_after_s`` into the load (the spike's base phase); the drop is
``drop_after_s`` (base, ramp and hold). Every expectation raises ``ActivityFailed`` saying
what was expected and observed; the timelines land in the journal.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import autoscaling, capacity, kube, livestats, locustrun

__all__ = [
    "answers_during_scale_out",
    "p99_after_scale_out",
    "scales_in_after_drop",
    "scales_out_within",
]
logger = logging.getLogger("chaostoolkit")


def scales_out_within(
    step_after_s: float | list[float],
    within_s: float,
    service: str = "api",
    poll_s: float = 2.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """From the load step, the HPA's desired replicas rise and that many pods are ready
    within ``within_s``."""
    with engine_call("follow the autoscaler's scale-out", configuration) as target:
        work = kube.workload(target.service(service))
        step_t = _load_began(target) + capacity.total_seconds(step_after_s, "step_after_s")
        time.sleep(max(0.0, step_t - time.time()))
        facts = autoscaling.follow_out(work, step_t, within_s, poll_s, secrets)
        autoscaling.save_record(target, "scale_out", facts)
    logger.info("scale-out: %s", {k: v for k, v in facts.items() if k != "timeline"})
    if facts["ready_after_s"] is None:
        rose = facts["desired_rose_after_s"]
        raise ActivityFailed(
            unmet(
                f"the autoscaler to want more than {facts['initial_replicas']} {service} pods and "
                f"have them ready within {within_s} s of the load step",
                f"desired replicas rose after {rose} s, pods not all ready"
                if rose is not None
                else f"desired replicas stayed {facts['initial_replicas']} (CPU "
                f"{facts['timeline'][-1]['cpu_utilization']} % of the request)",
                figures=facts,
            )
        )
    return facts


def answers_during_scale_out(
    allowed: list[int] | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """From the load step until the new pods were ready (or the bound), only ``allowed``
    answers (default 200: no 5xx, no request without an answer); P99 and failures reported."""
    permitted = {str(code) for code in (allowed or [200])}
    with engine_call("read the answers during the scale-out", configuration) as target:
        out = _record(target, "scale_out")
        end = out["ready_t"] or out["step_t"] + out["within_s"]
        facts = _between(target, out["step_t"], end)
    unexpected = {code: n for code, n in facts["codes"].items() if code not in permitted}
    if unexpected or not facts["count"]:
        raise ActivityFailed(
            unmet(
                f"only {sorted(permitted)} while the API scaled out",
                facts["codes"] or "no answers",
                figures=facts,
            )
        )
    return facts


def p99_after_scale_out(
    window_s: int, p99_ms: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Over the ``window_s`` seconds after the new pods were ready, P99 at most ``p99_ms``."""
    with engine_call("read the P99 after the scale-out", configuration) as target:
        out = _record(target, "scale_out")
        if not out["ready_t"]:
            raise ActivityFailed(unmet("new pods ready, then a P99 window", "no scale-out"))
        start = out["ready_t"] + 1
        time.sleep(max(0.0, start + window_s + 2 - time.time()))  # the live file lags ~1 s
        facts = _between(target, start, start + window_s)
    if facts["p99_ms"] is None or facts["p99_ms"] > p99_ms:
        raise ActivityFailed(
            unmet(
                f"P99 <= {p99_ms} ms over the {window_s} s after the new pods were ready",
                f"P99 {facts['p99_ms']} ms",
                figures=facts,
            )
        )
    return facts


def scales_in_after_drop(
    drop_after_s: float | list[float],
    within_s: float,
    max_failures: int = 0,
    service: str = "api",
    poll_s: float = 2.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """After the load drops, the HPA scales in within ``within_s`` and at most
    ``max_failures`` requests fail meanwhile (pods leave their Service before they stop)."""
    with engine_call("follow the autoscaler's scale-in", configuration) as target:
        work = kube.workload(target.service(service))
        out = _record(target, "scale_out")
        drop_t = _load_began(target) + capacity.total_seconds(drop_after_s, "drop_after_s")
        time.sleep(max(0.0, drop_t - time.time()))
        facts = autoscaling.follow_in(work, drop_t, out["peak_desired"], within_s, poll_s, secrets)
        autoscaling.save_record(target, "scale_in", facts)
        end = facts["done_t"] or time.time()
        time.sleep(max(0.0, end + 2 - time.time()))
        facts["requests"] = _between(target, drop_t, end)
    failures = facts["requests"]["failures"]
    if facts["scaled_in_after_s"] is None or failures > max_failures:
        raise ActivityFailed(
            unmet(
                f"the API scaled in within {within_s} s of the drop, with at most "
                f"{max_failures} failed requests",
                f"scaled in after {facts['scaled_in_after_s']} s "
                f"(to {facts['to_replicas']}), {failures} failed",
                figures=facts,
            )
        )
    return facts


def _record(target: Any, key: str) -> dict[str, Any]:
    found = autoscaling.load_record(target, key)
    if not found:
        raise ActivityFailed(f"no {key} was followed: run scales_out_within first")
    return found


def _load_began(target: Any) -> float:
    run = locustrun.current(target)
    return capacity.first_second(
        run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
    )


def _between(target: Any, start: float, end: float) -> dict[str, Any]:
    """Requests, failures, codes and P99 of the live seconds in [start, end]."""
    run = locustrun.current(target)
    records = [
        r for r in livestats.read_seconds(run["live_file"]) if int(start) <= r["t"] <= int(end)
    ]
    merged = livestats.merge(records)
    return {
        "from_t": int(start),
        "to_t": int(end),
        "count": merged["count"],
        "failures": merged["failures"],
        "codes": merged["codes"],
        "p99_ms": livestats.percentile(merged["hist"], 0.99),
    }
