"""Live statistics, load metrics and self-stop, written by Locust while it runs (Locust side only).

From the start of the load on (not while a master waits for its workers),
every second one JSON line is appended to ``$COFFEE_LIVE_FILE`` describing the
requests that completed during that whole second::

    {"t": 1764208800, "by_name": {"/api/v1/order": {"method": "POST", "count": 12,
      "failures": 1, "codes": {"200": 11, "503": 1}, "hist": {"12.3": 4, ...},
      "sum_ms": 310.4}}}

Latencies go to log-linear buckets (three significant digits, keyed by the
bucket's lower bound in milliseconds), so any percentile merged from them is
within 1 % of the exact value.

Locust records a request when it ends, so a request that hangs would be
invisible until it does. Each name therefore also carries ``started`` (requests
begun in that second) and, when any were still unanswered at the second's end,
``open`` (how many), ``open_hist`` (their ages, bucketed like ``hist``) and
``oldest_open_ms``: the judges count them at their age (``gameday.livestats``).
Users open that account with ``in_flight(name)`` around each request. Every acknowledged order (200 with an ``id``)
is appended to ``$COFFEE_ACKED_FILE``, flushed each second. WebSocket events
(request type ``WS``) carry code 101 when they succeed, 0 when no answer came.

The load generator's own figures ride on the same line, when measured: ``loop_lag_ms``
(how late the event loop woke a greenlet that sleeps ``LAG_PROBE_S``, the worst
of the second over every Locust process: a generator short of CPU wakes its
users late and times their answers late) and ``pace_missed`` (open-model tasks
that could not start on their user's pace: the previous answer, or the process,
was late)::

    {"t": 1764208801, "by_name": {...}, "loop_lag_ms": 1.8, "pace_missed": 0}

Distributed runs: the workers record, and hand their seconds and orders to
the master with each report (every second); only the master writes the files,
``LAG_S`` behind the clock so that every worker's share of a second is in.

``$COFFEE_EXPECT_WORKERS`` (set by ``gameday.locustrun`` for local plus remote
workers) is how many workers the master waits for before it starts the users.

Also here: the Prometheus metrics (``metrics.py``, on ``$COFFEE_METRICS_PORT``)
and the self-stop (``selfstop.py``: ``$COFFEE_ABORT_FAILURE_RATIO`` over
``$COFFEE_ABORT_AFTER_S`` seconds). The run ends with an event line::

    {"event": "quit", "exit_code": 0, "stop_reason": null}

Importing this module registers the listeners; the chaos process must never
import it (Locust monkey-patches the interpreter with gevent).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import env
import gevent
import locust.runners
from gevent.pywsgi import WSGIServer
from locust import events
from locust.env import Environment
from metrics import LoadCollector
from prometheus_client import CollectorRegistry, make_wsgi_app
from selfstop import FailureWatch

SELF_STOP_EXIT_CODE = 3
SIGNIFICANT_DIGITS = 3
LAG_S = 2.5  # distributed: how long the master waits for the workers' share of a second
LAG_PROBE_S = 0.1  # the event-loop lag greenlet's sleep
REPORT_KEY = "coffee_live"
logger = logging.getLogger("coffee-chaos")

# Workers report to the master every second instead of every 3 s, so the live file lags less.
locust.runners.WORKER_REPORT_INTERVAL = 1.0
# A worker whose master went silent (killed, crashed) stops loading after 15 s instead of
# Locust's 60 s: nothing else can stop a worker on another machine.
locust.runners.MASTER_HEARTBEAT_TIMEOUT = 15


_bucket_names: dict[int, str] = {}  # lower bound in µs -> name; 900 a decade at most


def bucket_ms(response_time_ms: float) -> str:
    """The histogram bucket of a latency: its lower bound, three significant digits."""
    micros = max(0, int(response_time_ms * 1000))
    if micros >= 10**SIGNIFICANT_DIGITS:
        micros -= micros % 10 ** (len(str(micros)) - SIGNIFICANT_DIGITS)
    try:
        return _bucket_names[micros]
    except KeyError:
        _bucket_names[micros] = name = repr(micros / 1000)
        return name


def new_stats(method: str = "") -> dict[str, Any]:
    """The statistics of one request name in one second, before any request."""
    return {
        "method": method,
        "count": 0,
        "failures": 0,
        "codes": {},
        "hist": {},
        "sum_ms": 0.0,  # rounded to the µs when the second is written
        "started": 0,
    }


def merge_stats(into: dict[str, Any], stats: dict[str, Any], open_too: bool = True) -> None:
    """Add the per-name statistics ``stats`` into ``into``, with their open requests unless
    ``open_too`` is False (a late second's snapshot: the next one supersedes it)."""
    into.setdefault("method", stats.get("method", ""))
    numbers = ("count", "failures", "sum_ms", "started") + (("open",) if open_too else ())
    for key in numbers:
        if key in stats:
            into[key] = into.get(key, 0) + stats[key]
    for key in ("codes", "hist") + (("open_hist",) if open_too else ()):
        if key in stats:
            target = into.setdefault(key, {})
            for bucket, n in stats[key].items():
                target[bucket] = target.get(bucket, 0) + n
    if open_too and "oldest_open_ms" in stats:
        into["oldest_open_ms"] = max(into.get("oldest_open_ms", 0), stats["oldest_open_ms"])


class LiveRecorder:
    """Per-second request counts, status codes and latency histograms."""

    def __init__(self, live_path: str | None, acked_path: str | None) -> None:
        self.live_path = live_path
        self.acked_path = acked_path
        self.seconds: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.acked: list[dict[str, Any]] = []
        self.flushed_until = int(time.time())
        self.lag_s = 0.0
        self.on_second: list[Any] = []  # callables(t, by_name), for each second written
        self.open: dict[int, tuple[str, float]] = {}  # token -> (name, start time)
        self._tokens = itertools.count()
        self.generator: dict[int, dict[str, float]] = defaultdict(dict)  # t -> its figures

    def _stats(self, t: int, name: str, method: str = "") -> dict[str, Any]:
        by_name = self.seconds[t]
        stats = by_name.get(name)
        if stats is None:
            stats = by_name[name] = new_stats(method)
        return stats

    def begin(self, name: str) -> int:
        """A request to ``name`` starts: count it, and keep it open until ``end``."""
        now = time.time()
        self._stats(int(now), name)["started"] += 1
        token = next(self._tokens)
        self.open[token] = (name, now)
        return token

    def end(self, token: int) -> None:
        """The request of ``token`` was answered (or failed): it is no longer open."""
        self.open.pop(token, None)

    def snapshot(self, now: float | None = None) -> None:
        """Record, in the second that just ended, the requests still open and their ages."""
        now = time.time() if now is None else now
        second = int(now) - 1
        for name, started in self.open.values():
            stats = self._stats(second, name)
            age_ms = (now - started) * 1000
            stats["open"] = stats.get("open", 0) + 1
            bucket = bucket_ms(age_ms)
            hist = stats.setdefault("open_hist", {})
            hist[bucket] = hist.get(bucket, 0) + 1
            stats["oldest_open_ms"] = round(max(stats.get("oldest_open_ms", 0), age_ms), 3)

    def note_loop_lag(self, lag_ms: float) -> None:
        """The event loop woke a greenlet ``lag_ms`` late: keep the second's worst."""
        figures = self.generator[int(time.time())]
        figures["loop_lag_ms"] = max(figures.get("loop_lag_ms", 0.0), lag_ms)

    def missed_pace(self) -> None:
        """An open-model user could not start its task on its pace."""
        figures = self.generator[int(time.time())]
        figures["pace_missed"] = figures.get("pace_missed", 0) + 1

    def on_request(
        self, name: str, response_time: float, status: int, failed: bool, method: str = ""
    ) -> None:
        """Count one completed request in the second it completed (runs for every request)."""
        stats = self._stats(int(time.time()), name, method)
        stats["method"] = stats["method"] or method
        stats["count"] += 1
        if failed:
            stats["failures"] += 1
        stats["sum_ms"] += response_time
        codes = stats["codes"]
        code = str(status)
        codes[code] = codes.get(code, 0) + 1
        hist = stats["hist"]
        bucket = bucket_ms(response_time)
        hist[bucket] = hist.get(bucket, 0) + 1

    def acknowledge(self, order: dict[str, Any]) -> None:
        """Remember an order the target acknowledged."""
        self.acked.append(
            {key: order.get(key) for key in ("id", "drink", "store", "price", "timestamp")}
        )

    def hand_over(self) -> dict[str, Any]:
        """Everything recorded so far, for the master (a worker's report); then forget it."""
        seconds, self.seconds = self.seconds, defaultdict(dict)
        acked, self.acked = self.acked, []
        generator, self.generator = self.generator, defaultdict(dict)
        return {
            "seconds": [[t, by_name] for t, by_name in seconds.items()],
            "acked": acked,
            "generator": [[t, figures] for t, figures in generator.items()],
        }

    def take_over(self, report: dict[str, Any]) -> None:
        """Merge a worker's report; a second already written counts in the next one."""
        for t, by_name in report.get("seconds", []):
            on_time = int(t) >= self.flushed_until
            second = self.seconds[max(int(t), self.flushed_until)]
            for name, stats in by_name.items():
                merge_stats(second.setdefault(name, {}), stats, open_too=on_time)
        self.acked.extend(report.get("acked", []))
        for t, figures in report.get("generator", []):
            into = self.generator[max(int(t), self.flushed_until)]
            if "loop_lag_ms" in figures:
                into["loop_lag_ms"] = max(into.get("loop_lag_ms", 0.0), figures["loop_lag_ms"])
            if "pace_missed" in figures:
                into["pace_missed"] = into.get("pace_missed", 0) + figures["pace_missed"]

    def flush(self, final: bool = False) -> None:
        """Append one line per complete second (all pending ones when final)."""
        until = int(time.time() - self.lag_s)
        if final:
            pending = [*self.seconds, *self.generator]
            until = max([int(time.time()) + 1, *(t + 1 for t in pending)])
        lines = []
        for second in range(self.flushed_until, until):
            by_name = self.seconds.pop(second, {})
            for stats in by_name.values():
                stats["sum_ms"] = round(stats["sum_ms"], 3)
            figures = {
                key: round(value, 3) for key, value in self.generator.pop(second, {}).items()
            }
            lines.append(json.dumps({"t": second, "by_name": by_name, **figures}))
            for listener in self.on_second:
                listener(second, by_name, figures)
        self.flushed_until = max(self.flushed_until, until)
        _append(self.live_path, lines)
        acked, self.acked = self.acked, []
        _append(self.acked_path, [json.dumps(order) for order in acked])

    def event(self, **fields: Any) -> None:
        """Append an event line (no ``t``: readers of seconds skip it)."""
        _append(self.live_path, [json.dumps(fields)])


def _append(path: str | None, lines: list[str]) -> None:
    if path and lines:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


recorder = LiveRecorder(os.environ.get(env.LIVE_FILE), os.environ.get(env.ACKED_FILE))
stop_reason: list[str] = []
ticker: list[gevent.Greenlet] = []


@contextlib.contextmanager
def in_flight(name: str) -> Iterator[None]:
    """Keep the request to ``name`` made inside open in the live statistics until it ends."""
    token = recorder.begin(name)
    try:
        yield
    finally:
        recorder.end(token)


def _measure_loop_lag() -> None:
    """Sleep ``LAG_PROBE_S`` again and again, noting how late each wake-up is."""
    while True:
        before = time.monotonic()
        gevent.sleep(LAG_PROBE_S)
        recorder.note_loop_lag(max(0.0, time.monotonic() - before - LAG_PROBE_S) * 1000)


def _tick_every_second(writes: bool) -> None:
    """Just after each second: note the open requests; the writing process then flushes."""
    while True:
        gevent.sleep(1 - time.time() % 1 + 0.01)
        recorder.snapshot()
        if writes:
            recorder.flush()


def _serve_metrics(environment: Environment, port: int) -> None:
    registry = CollectorRegistry(auto_describe=True)
    collector = LoadCollector(
        lambda: environment.runner.user_count if environment.runner else 0,
        float(os.environ.get(env.TASKS_PER_USER_S) or 0),
    )
    registry.register(collector)
    recorder.on_second.append(lambda _t, by_name, figures: collector.feed(by_name, figures))
    try:
        WSGIServer(("127.0.0.1", port), make_wsgi_app(registry), log=None).start()
    except OSError as exc:
        sys.stderr.write(
            f"coffee-chaos instrumentation: cannot serve load metrics on 127.0.0.1:{port} "
            f"({exc}): another load run (or program) holds the port; stop it, or set "
            f"{env.METRICS_PORT}\n"
        )
        sys.exit(2)


def _watch_failures(environment: Environment, bound: float, after_s: int) -> None:
    watch = FailureWatch(bound, after_s)

    def on_second(t: int, by_name: dict[str, dict[str, Any]], _figures: dict) -> None:
        reason = watch.feed(t, by_name)
        running = environment.runner.state in (
            locust.runners.STATE_SPAWNING,
            locust.runners.STATE_RUNNING,
        )
        if reason and running and not stop_reason:
            stop_reason.append(reason)
            logger.error(reason)
            recorder.event(event="self-stop", t_stop=t, reason=reason)
            environment.process_exit_code = SELF_STOP_EXIT_CODE
            gevent.spawn(environment.runner.quit)

    recorder.on_second.append(on_second)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    # A parent that ignores SIGINT (nohup, `&` in a script) passes that on; Locust writes
    # its final CSV and HTML only on SIGINT, the signal `gameday.locustrun.stop` sends.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if isinstance(environment.runner, locust.runners.WorkerRunner):
        # Forked by `--processes`: the master alone writes the files (a worker's
        # stats.json, written last, would hold only what it had not reported yet).
        recorder.live_path = recorder.acked_path = None
        if environment.parsed_options is not None:
            environment.parsed_options.json_file = None
        environment.events.test_start.add_listener(_start_ticking)
        return
    if isinstance(environment.runner, locust.runners.MasterRunner):
        recorder.lag_s = LAG_S
        expected = int(os.environ.get(env.EXPECT_WORKERS) or 0)
        if expected and environment.parsed_options is not None:
            # `--processes N` makes the master expect exactly its N forked workers; remote
            # workers join too. init fires before the headless run waits for them.
            environment.parsed_options.expect_workers = expected
    port = int(os.environ.get(env.METRICS_PORT) or 0)
    if port:
        _serve_metrics(environment, port)
    bound = float(os.environ.get(env.ABORT_FAILURE_RATIO) or 0)
    if bound:
        _watch_failures(environment, bound, int(os.environ.get(env.ABORT_AFTER_S) or 1))
    if recorder.live_path or recorder.acked_path or port:
        environment.events.test_start.add_listener(_start_ticking)


def _start_ticking(**_: Any) -> None:
    """Write seconds from the load's start: none while a master waits for its workers."""
    if not ticker:
        recorder.flushed_until = int(time.time())
        writes = bool(recorder.live_path or recorder.acked_path or recorder.on_second)
        ticker.append(gevent.spawn(_tick_every_second, writes))
        ticker.append(gevent.spawn(_measure_loop_lag))


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    exception: Any = None,
    **_: Any,
) -> None:
    failed = exception is not None
    status = getattr(response, "status_code", 0) or 0
    if not status and request_type == "WS" and not failed:
        status = 101  # the socket's handshake answer: it is open
    recorder.on_request(name, response_time or 0, status, failed, request_type)


@events.report_to_master.add_listener
def _on_report_to_master(data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = recorder.hand_over()


@events.worker_report.add_listener
def _on_worker_report(data: dict[str, Any], **_: Any) -> None:
    if REPORT_KEY in data:
        recorder.take_over(data[REPORT_KEY])


@events.quit.add_listener
def _on_quit(exit_code: int = 0, **_: Any) -> None:
    # `quit` fires after the users have stopped (`quitting` fires before), so the
    # requests and orders of the stop timeout are written too (and, distributed, the
    # workers' final reports, which the master waits for before quitting).
    recorder.flush(final=True)
    recorder.event(
        event="quit", exit_code=exit_code, stop_reason=stop_reason[0] if stop_reason else None
    )
