"""Chaos Toolkit probes of the dashboard's WebSocket under load: the DashboardWatcher users'
connections, pushes and reconnections, read from the load's live statistics.

Both are expectations: they raise ``ActivityFailed`` saying what was expected and observed.
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
from gameday import capacity, livestats, locustrun, services
from probes.process import process_usage

__all__ = ["watchers_reconnect_within", "websockets_hold_each_step"]
logger = logging.getLogger("chaostoolkit")

WS_CONNECT = "WS connect"
WS_RECONNECT = "WS reconnect"
WS_PUSH = "/ws/dashboard push"


def websockets_hold_each_step(
    steps: list[int],
    step_s: int,
    settle_s: int,
    max_failure_ratio: float,
    max_lag_p99_ms: float,
    service: str = "api",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Follow the WebSocket stairs (``actions.capacity.start_watchers``): at the end of each
    step the API's RSS, and over the step (after ``settle_s``) the connection attempts and
    failures and the broadcast lag P50/P99. Expects connection failures within
    ``max_failure_ratio`` and lag P99 within ``max_lag_p99_ms`` at every step."""
    with engine_call("read the WebSocket statistics", configuration) as target:
        run = locustrun.current(target)
        began = capacity.first_second(
            run["live_file"], datetime.fromisoformat(run["started_at"]).timestamp()
        )
    table = []
    for index, sockets in enumerate(steps):
        end = began + (index + 1) * step_s
        time.sleep(max(0.0, end - 1 - time.time()))
        rss = process_usage(service, configuration, secrets).get("rss_bytes")  # None: no process
        time.sleep(max(0.0, end + 1 - time.time()))  # the step's last second is written
        row = _step(run["live_file"], end - step_s, end, settle_s)
        mib = round(rss / 2**20, 1) if rss is not None else None
        table.append({"websockets": sockets, f"{service}_rss_mib": mib, **row})
        logger.info(f"WebSockets step: {table[-1]}")
    bad = [
        row
        for row in table
        if not row["pushes"]
        or row["failure_ratio"] > max_failure_ratio
        or row["lag_p99_ms"] > max_lag_p99_ms
    ]
    if bad:
        raise ActivityFailed(
            unmet(
                f"every step to connect with failure ratio <= {max_failure_ratio} and "
                f"broadcast lag P99 <= {max_lag_p99_ms} ms",
                f"these did not: {bad}",
                figures={"steps": table},
            )
        )
    return {"steps": table}


def _step(live_file: str, begins: int, ends: int, settle_s: int) -> dict[str, Any]:
    """Connection attempts and failures over a step, and the push lag after ``settle_s``."""
    records = [r for r in livestats.read_seconds(live_file) if begins <= r["t"] < ends]
    connects = livestats.merge(records, WS_CONNECT)
    pushes = livestats.merge([r for r in records if r["t"] >= begins + settle_s], WS_PUSH)
    tried = connects["count"]
    return {
        "connects": tried,
        "connect_failures": connects["failures"],
        "failure_ratio": round(connects["failures"] / tried, 4) if tried else 0.0,
        "pushes": pushes["count"],
        "lag_p50_ms": livestats.percentile(pushes["hist"], 0.50),
        "lag_p99_ms": livestats.percentile(pushes["hist"], 0.99),
    }


def watchers_reconnect_within(
    watchers: int | list[int] | str,
    within_s: float,
    service: str = "api",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """After ``service`` (re)started, ``watchers`` WebSockets reconnect within ``within_s``
    of its start (the process manager's uptime gives the start; on Kubernetes, the youngest
    ready container's). A list of watchers (the steps of ``start_watchers``) means its
    largest; ``"connected"``, every watcher connected before the start."""
    with engine_call("follow the reconnections", configuration) as target:
        run = locustrun.current(target)
        status = services.status(service, target)
    if status.get("state") != "RUNNING":
        raise ActivityFailed(unmet(f"{service} to run again", status.get("state")))
    started_t = time.time() - (status.get("uptime") or 0)
    watchers = _expected_watchers(watchers, run["live_file"], started_t)
    reconnected, seen = 0, 0.0
    while True:
        records = [r for r in livestats.read_seconds(run["live_file"]) if r["t"] >= int(started_t)]
        merged = livestats.merge(records, WS_RECONNECT)
        reconnected = merged["count"] - merged["failures"]
        seen = time.time() - started_t
        if reconnected >= watchers:
            newest = max(r["t"] for r in records if WS_RECONNECT in r.get("by_name", {}))
            if newest + 1 - started_t > within_s:
                break
            return {
                "watchers": watchers,
                "reconnected": reconnected,
                "all_back_s": round(newest + 1 - started_t, 1),
                "reconnect_p99_ms": livestats.percentile(merged["hist"], 0.99),
                "within_s": within_s,
            }
        if seen > within_s + 2:  # the live file is written a second late
            break
        time.sleep(1)
    raise ActivityFailed(
        unmet(
            f"all {watchers} WebSocket watchers to reconnect within {within_s} s of {service} "
            "restarting",
            f"{reconnected} did in {seen:.0f} s",
        )
    )


def _expected_watchers(watchers: int | list[int] | str, live_file: str, started_t: float) -> int:
    if isinstance(watchers, list):
        return max(watchers)
    if watchers != "connected":
        return watchers  # type: ignore[return-value]
    before = [r for r in livestats.read_seconds(live_file) if r["t"] < int(started_t)]
    merged = livestats.merge(before, WS_CONNECT)
    connected = merged["count"] - merged["failures"]
    if not connected:
        raise ActivityFailed(
            "no WebSocket watcher was connected before the restart: add DashboardWatcher to "
            "the load's user_classes, or give watchers as a number"
        )
    return connected
