"""Live statistics written by Locust while it runs (Locust side only).

Every second one JSON line is appended to ``$COFFEE_LIVE_FILE`` describing the
requests that completed during the previous whole second::

    {"t": 1764208800, "by_name": {"/api/v1/order": {"count": 12, "failures": 1,
      "codes": {"200": 11, "503": 1}, "hist": {"12.3": 4, ...}}}}

Latencies go to log-linear buckets (three significant digits, keyed by the
bucket's lower bound in milliseconds), so any percentile merged from them is
within 1 % of the exact value. Every acknowledged order (200 with an ``id``)
is appended to ``$COFFEE_ACKED_FILE``, flushed each second.

Importing this module registers the listeners; the chaos process must never
import it (Locust monkey-patches the interpreter with gevent).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from typing import Any

import gevent
from locust import events
from locust.env import Environment

LIVE_ENV = "COFFEE_LIVE_FILE"
ACKED_ENV = "COFFEE_ACKED_FILE"
SIGNIFICANT_DIGITS = 3


def bucket_ms(response_time_ms: float) -> str:
    """The histogram bucket of a latency: its lower bound, three significant digits."""
    micros = max(0, int(response_time_ms * 1000))
    scale = 10 ** max(0, len(str(micros)) - SIGNIFICANT_DIGITS)
    return repr(micros // scale * scale / 1000)


class LiveRecorder:
    """Per-second request counts, status codes and latency histograms."""

    def __init__(self, live_path: str | None, acked_path: str | None) -> None:
        self.live_path = live_path
        self.acked_path = acked_path
        self.seconds: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.acked: list[dict[str, Any]] = []
        self.flushed_until = int(time.time())

    def on_request(self, name: str, response_time: float, status: int, failed: bool) -> None:
        """Count one completed request in the second it completed."""
        second = int(time.time())
        stats = self.seconds[second].setdefault(
            name, {"count": 0, "failures": 0, "codes": {}, "hist": {}}
        )
        stats["count"] += 1
        stats["failures"] += int(failed)
        code = str(status)
        stats["codes"][code] = stats["codes"].get(code, 0) + 1
        bucket = bucket_ms(response_time)
        stats["hist"][bucket] = stats["hist"].get(bucket, 0) + 1

    def acknowledge(self, order: dict[str, Any]) -> None:
        """Remember an order the target acknowledged."""
        self.acked.append(
            {key: order.get(key) for key in ("id", "drink", "store", "price", "timestamp")}
        )

    def flush(self, final: bool = False) -> None:
        """Append one line per complete second (and the current one when final)."""
        until = int(time.time()) + (1 if final else 0)
        lines = []
        for second in range(self.flushed_until, until):
            lines.append(json.dumps({"t": second, "by_name": self.seconds.pop(second, {})}))
        self.flushed_until = max(self.flushed_until, until)
        _append(self.live_path, lines)
        acked, self.acked = self.acked, []
        _append(self.acked_path, [json.dumps(order) for order in acked])


def _append(path: str | None, lines: list[str]) -> None:
    if path and lines:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


recorder = LiveRecorder(os.environ.get(LIVE_ENV), os.environ.get(ACKED_ENV))


def _flush_every_second() -> None:
    while True:
        gevent.sleep(1 - time.time() % 1 + 0.01)
        recorder.flush()


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    # A parent that ignores SIGINT (nohup, `&` in a script) passes that on; Locust writes
    # its final CSV and HTML only on SIGINT, the signal `gameday.locustrun.stop` sends.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if recorder.live_path or recorder.acked_path:
        gevent.spawn(_flush_every_second)


@events.request.add_listener
def _on_request(
    name: str, response_time: float, response: Any = None, exception: Any = None, **_: Any
) -> None:
    recorder.on_request(
        name, response_time, getattr(response, "status_code", 0) or 0, exception is not None
    )


@events.quit.add_listener
def _on_quit(**_: Any) -> None:
    # `quit` fires after the users have stopped (`quitting` fires before), so the
    # requests and orders of the stop timeout are written too.
    recorder.flush(final=True)
