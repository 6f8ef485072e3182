"""Chaos Toolkit probes over the live statistics of the current load run.

They read ``live.jsonl`` of the run recorded by ``actions.load.start_load``
(one line per second, see ``gameday.livestats``); ``window_s`` counts the
newest complete seconds, ``endpoint`` is a request name such as
``/api/v1/order`` (None: every request).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday import livestats, locustrun
from gameday.errors import GamedayError
from gameday.target import TargetError, load_target

__all__ = [
    "failure_ratio",
    "load_outcome",
    "load_stats",
    "order_success_count",
    "p99_ms",
    "unexpected_codes",
]
logger = logging.getLogger("chaostoolkit")

ORDER_ENDPOINT = "/api/v1/order"


def load_stats(
    window_s: int = 10,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Count, rps, failures, failure ratio, p50/p95/p99 (ms) and status codes of the window.

    ``age_s`` is how old the newest second is: large once Locust has finished.
    """
    try:
        live_file = Path(locustrun.current(load_target(configuration))["live_file"])
        facts = livestats.window(live_file, window_s, endpoint)
    except (GamedayError, TargetError, livestats.LiveStatsError) as exc:
        raise ActivityFailed(f"no load statistics: {exc}") from None
    facts["age_s"] = round(time.time() - facts["to_t"] - 1, 1) if facts["to_t"] else None
    return facts


def p99_ms(
    window_s: int = 10,
    endpoint: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> float:
    """The 99th percentile latency (ms) seen by the customers over the window."""
    facts = _with_requests(window_s, endpoint, configuration)
    return facts["p99_ms"]


def failure_ratio(
    window_s: int = 10,
    endpoint: str | None = None,
    ignore_codes: list[int] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> float:
    """Failed requests / requests over the window; responses with ``ignore_codes`` don't fail."""
    facts = _with_requests(window_s, endpoint, configuration)
    ignored = sum(facts["codes"].get(str(code), 0) for code in ignore_codes or [] if code != 200)
    return round(max(0, facts["failures"] - ignored) / facts["count"], 6)


def unexpected_codes(
    window_s: int = 10,
    endpoint: str | None = None,
    allowed: list[int] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, int]:
    """Status codes seen over the window that are not ``allowed`` (default 200 and 503).

    Code ``"0"`` counts requests that got no HTTP answer (refused, reset, timed out).
    """
    permitted = {str(code) for code in (allowed if allowed is not None else [200, 503])}
    facts = load_stats(window_s, endpoint, configuration, secrets)
    return {code: n for code, n in sorted(facts["codes"].items()) if code not in permitted}


def order_success_count(
    window_s: int = 10, configuration: Configuration = None, secrets: Secrets = None
) -> int:
    """Orders the target acknowledged (200) over the window."""
    facts = load_stats(window_s, ORDER_ENDPOINT, configuration, secrets)
    return int(facts["codes"].get("200", 0))


def load_outcome(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Whether the current (or last) run has finished, its exit code and why it stopped.

    ``stop_reason`` names the self-stop (``abort_failure_ratio``) when the load
    stopped itself on a dead target; exit code 3 then.
    """
    try:
        run = locustrun.latest(load_target(configuration))
        facts = livestats.outcome(Path(run["live_file"]))
    except (GamedayError, TargetError, livestats.LiveStatsError) as exc:
        raise ActivityFailed(f"no load outcome: {exc}") from None
    return {"run_dir": run["run_dir"], **facts}


def _with_requests(
    window_s: int, endpoint: str | None, configuration: Configuration
) -> dict[str, Any]:
    facts = load_stats(window_s, endpoint, configuration)
    if not facts["count"]:
        raise ActivityFailed(
            f"no {endpoint or 'request'} completed in the last {window_s} s of load: "
            "Locust is stalled or the run has not started"
        )
    return facts
