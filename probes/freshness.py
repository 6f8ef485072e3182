"""Freshness the toolkit measures itself: it places a marker order and times how long
until the dashboard shows it, on GET /api/dashboard and on the WebSocket push.

The marker is a real order stamped with the API's own clock (its ``Date``
header). The dashboard "shows" it once ``recent_orders`` holds its id or a
later one: ids come from the database's sequence, and the contract's
``recent_orders`` keeps only the newest 50, so under load later orders soon
push the marker itself out of the list. No timestamp a client wrote is ever
compared with a clock, so an order stamped an hour ahead changes no figure.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any

import websocket
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday.httpcheck import HttpCheckError, InvalidCall, api_url, call
from probes.http import MAX_ORDERS

__all__ = ["dashboard_stays_stale", "freshness_stays_under", "marker_shown_within"]
logger = logging.getLogger("chaostoolkit")

POLL_S = 0.2
MAX_WAIT_S = 600
WS_PATH = "/ws/dashboard"


def marker_shown_within(
    within_s: float,
    websocket_within_s: float | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Place a marker; the dashboard shows it within ``within_s`` and, unless
    ``websocket_within_s`` is None, a WebSocket push shows it within that."""
    _check_wait(within_s, "within_s")
    url = _url(configuration)
    pushes = None
    if websocket_within_s is not None:
        _check_wait(websocket_within_s, "websocket_within_s")
        pushes = _PushWatcher(url, websocket_within_s)
    marker = place_marker(url)
    try:
        dashboard_s, last = _until_shown(url, marker["id"], marker["placed"], within_s)
        websocket_s = pushes.until_shown(marker["id"], marker["placed"]) if pushes else None
    finally:
        if pushes:
            pushes.close()
    facts = {"marker_id": marker["id"], "dashboard_s": dashboard_s, "websocket_s": websocket_s}
    if dashboard_s is None:
        raise ActivityFailed(
            unmet(f"the dashboard to show marker order {marker['id']} within {within_s} s", last)
        )
    if pushes and websocket_s is None:
        raise ActivityFailed(
            unmet(
                f"a WebSocket push to show marker order {marker['id']} within "
                f"{websocket_within_s} s",
                pushes.last,
            )
        )
    return facts


def dashboard_stays_stale(
    for_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """While the aggregator is down: for ``for_s`` the dashboard keeps answering 200 with the
    figures it had (the stale cache served, not emptied), and a marker placed at the start
    never shows (nothing else refreshes the cache, so the fault took effect)."""
    _check_wait(for_s, "for_s")
    url = _url(configuration)
    first = _dashboard(url)
    if first is None or not first["recent_ids"]:
        raise ActivityFailed(
            unmet("the stale cache served (200 with recent orders)", _describe(first))
        )
    marker = place_marker(url)
    deadline = time.monotonic() + for_s
    polls = 0
    while time.monotonic() < deadline:
        time.sleep(POLL_S * 2.5)
        seen = _dashboard(url)
        polls += 1
        elapsed = round(time.monotonic() - marker["placed"], 1)
        if seen is None or not seen["recent_ids"]:
            raise ActivityFailed(
                unmet(
                    f"the stale cache served for {for_s} s",
                    f"after {elapsed} s: {_describe(seen)}",
                )
            )
        if max(seen["recent_ids"]) >= marker["id"]:
            raise ActivityFailed(
                unmet(
                    f"a stale cache while the aggregator is down (marker {marker['id']} unseen)",
                    f"the marker showed after {elapsed} s: is something else refreshing the cache?",
                )
            )
        if (seen["recent_ids"], seen["top5"]) != (first["recent_ids"], first["top5"]):
            raise ActivityFailed(
                unmet(
                    f"the same cached figures for {for_s} s",
                    f"they changed after {elapsed} s: is something else refreshing the cache?",
                )
            )
    return {"marker_id": marker["id"], "polls": polls, "recent_orders": len(first["recent_ids"])}


def freshness_stays_under(
    duration_s: float,
    max_s: float,
    every_s: float = 1.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """For ``duration_s`` place a marker every ``every_s`` and follow each: the longest time
    until the dashboard shows one is at most ``max_s``. Markers are real orders: at most
    ``MAX_ORDERS``."""
    _check_wait(duration_s, "duration_s")
    _check_wait(every_s, "every_s")
    markers = math.ceil(duration_s / every_s)
    if markers > MAX_ORDERS:
        raise ActivityFailed(
            f"duration_s {duration_s} / every_s {every_s} would place {markers} marker orders: "
            f"at most {MAX_ORDERS} marker orders (each is a real order); place them less often"
        )
    url = _url(configuration)
    pending: list[dict[str, Any]] = []
    delays: list[float] = []
    ends = time.monotonic() + duration_s
    next_marker = time.monotonic()
    while time.monotonic() < ends + max_s and (pending or time.monotonic() < ends):
        if time.monotonic() >= next_marker and time.monotonic() < ends:
            pending.append(place_marker(url))
            next_marker += every_s
        seen = _dashboard(url)
        newest = max(seen["recent_ids"], default=0) if seen else 0
        now = time.monotonic()
        for marker in [m for m in pending if m["id"] <= newest]:
            delays.append(round(now - marker["placed"], 2))
            pending.remove(marker)
        overdue = [m for m in pending if now - m["placed"] > max_s]
        if overdue:
            break
        time.sleep(POLL_S)
    facts = {
        "markers": len(delays) + len(pending),
        "shown": len(delays),
        "worst_s": max(delays, default=None),
        "max_s": max_s,
    }
    if pending:
        raise ActivityFailed(
            unmet(
                f"every marker shown on the dashboard within {max_s} s",
                f"marker {pending[0]['id']} unseen after {max_s} s ({len(pending)} pending)",
                figures=facts,
            )
        )
    return facts


def place_marker(url: str) -> dict[str, Any]:
    """A real order stamped with the API's clock: ``{"id", "placed"}`` (monotonic time)."""
    try:
        stamp = _server_time(url)
        answer = call(url, "POST", "/api/v1/order", 5, _marker_body(stamp))
    except (HttpCheckError, InvalidCall) as exc:
        raise ActivityFailed(f"could not place a marker order: {exc}") from None
    placed = time.monotonic()
    if answer.status != 200 or not isinstance(answer.body, dict) or "id" not in answer.body:
        raise ActivityFailed(
            f"could not place a marker order: {answer.status} {str(answer.body)[:200]}"
        )
    return {"id": int(answer.body["id"]), "placed": placed}


def _marker_body(stamp: str) -> dict[str, Any]:
    return {
        "drink": "latte",
        "store": "central",
        "price": round(random.uniform(4.0, 6.0), 2),
        "timestamp": stamp,
    }


def _server_time(url: str) -> str:
    """The API's own clock, from the Date header of /livez (ISO 8601, UTC)."""
    answer = call(url, "GET", "/livez", 5)
    date = answer.headers.get("date")
    if not date:
        raise HttpCheckError(f"{url}/livez sent no Date header to stamp the marker with")
    return parsedate_to_datetime(date).isoformat()


def _dashboard(url: str) -> dict[str, Any] | None:
    """The dashboard's recent order ids and top five, or None unless it answered 200."""
    try:
        answer = call(url, "GET", "/api/dashboard", 5)
    except HttpCheckError as exc:
        return {"status": 0, "error": str(exc), "recent_ids": []}
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status != 200:
        return {"status": answer.status, "body": str(answer.body)[:200], "recent_ids": []}
    return {
        "status": 200,
        "recent_ids": _ids(body.get("recent_orders")),
        "top5": body.get("top5_drinks"),
    }


def _ids(recent: Any) -> list[int]:
    if not isinstance(recent, list):
        return []
    return [o["id"] for o in recent if isinstance(o, dict) and isinstance(o.get("id"), int)]


def _until_shown(url: str, marker: int, placed: float, within_s: float) -> tuple[float | None, Any]:
    last: Any = None
    while time.monotonic() - placed <= within_s:
        last = _dashboard(url)
        if last and last["status"] == 200 and max(last["recent_ids"], default=0) >= marker:
            return round(time.monotonic() - placed, 2), last
        time.sleep(POLL_S)
    return None, _describe(last)


def _describe(seen: dict[str, Any] | None) -> str:
    if seen is None:
        return "no answer"
    if seen["status"] != 200:
        return f"answered {seen['status']}: {seen.get('body') or seen.get('error')}"
    return f"200 with {len(seen['recent_ids'])} recent orders (newest id {max(seen['recent_ids'], default=None)})"


class _PushWatcher:
    """A WebSocket on /ws/dashboard, read in a thread: when a push first shows an id."""

    def __init__(self, url: str, within_s: float) -> None:
        self.within_s = within_s
        self.pushes: list[tuple[float, int]] = []  # (monotonic time, newest id)
        self.last = "no push received"
        self._closed = threading.Event()
        ws_url = "ws" + url.removeprefix("http") + WS_PATH
        try:
            self.socket = websocket.create_connection(ws_url, timeout=5)
        except (OSError, websocket.WebSocketException) as exc:
            raise ActivityFailed(f"could not open {ws_url}: {exc}") from None
        self.thread = threading.Thread(target=self._read, name="marker-pushes", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                text = self.socket.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as exc:
                self.last = f"the socket closed: {exc}"
                return
            try:
                newest = max(_ids(json.loads(text).get("recent_orders")), default=0)
            except (ValueError, AttributeError):
                self.last = f"a push that is not the dashboard: {str(text)[:100]}"
                continue
            self.pushes.append((time.monotonic(), newest))
            self.last = f"pushes up to order {newest}"

    def until_shown(self, marker: int, placed: float) -> float | None:
        while time.monotonic() - placed <= self.within_s:
            for received, newest in list(self.pushes):
                if received >= placed and newest >= marker:
                    return round(received - placed, 2)
            time.sleep(POLL_S)
        return None

    def close(self) -> None:
        self._closed.set()
        try:
            self.socket.close()
        except (OSError, websocket.WebSocketException):
            pass


def _url(configuration: Configuration) -> str:
    with engine_call("reach the API", configuration):
        return api_url(configuration)


def _check_wait(value: float, name: str) -> None:
    if not isinstance(value, int | float) or not 0 < value <= MAX_WAIT_S:
        raise ActivityFailed(
            f"{name} must be a number of seconds in (0, {MAX_WAIT_S}], got {value!r}"
        )
