"""Load metrics for Prometheus, served by the Locust process (the master when distributed).

Fed once per second with the same per-second records as the live file, so
Prometheus and the live file agree. Served on ``127.0.0.1:$COFFEE_METRICS_PORT``
(default 9646, scraped by the lab's ``locust`` job)::

    locust_requests_total{name, method, code}
    locust_failures_total{name, method}
    locust_request_duration_seconds_bucket{name, method, le}   (+ _sum, _count)
    locust_users
    locust_offered_per_second      open model: tasks/s the users are paced to send (else 0)
    locust_loop_lag_seconds        the newest second's worst event-loop lag
    locust_pace_missed_total       open-model tasks that could not start on their pace

The histogram has a boundary at every threshold the experiments assert
(0.2 s p99, 1.5 s and 2.5 s answer bounds, 2 s fail-fast) besides the
contract's buckets. A record's latency buckets (``instrumentation.bucket_ms``)
are aligned on these boundaries, so the counts are exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)


class LoadCollector(Collector):
    """Cumulative counts of the seconds fed so far, plus the current number of users."""

    def __init__(self, users: Callable[[], int], tasks_per_user_s: float = 0.0) -> None:
        self.users = users
        self.tasks_per_user_s = tasks_per_user_s
        self.loop_lag_s = 0.0
        self.pace_missed = 0
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.failures: dict[tuple[str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def feed(self, by_name: dict[str, dict[str, Any]], figures: dict[str, float]) -> None:
        """Add one second of statistics (the ``by_name`` of a live record, and the load
        generator's figures of that second)."""
        self.loop_lag_s = figures.get("loop_lag_ms", 0.0) / 1000
        self.pace_missed += int(figures.get("pace_missed", 0))
        for name, stats in by_name.items():
            key = (name, stats.get("method", ""))
            for code, n in stats.get("codes", {}).items():
                self.requests[(*key, code)] += n
            self.failures[key] += stats.get("failures", 0)
            self.sums[key] += stats.get("sum_ms", 0.0) / 1000
            counts = self.buckets.setdefault(key, [0] * (len(BUCKETS_S) + 1))
            for lower_ms, n in stats.get("hist", {}).items():
                counts[_bucket_index(float(lower_ms))] += n

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "locust_requests",
            "Requests completed by the load generator.",
            labels=["name", "method", "code"],
        )
        for labels, n in sorted(self.requests.items()):
            requests.add_metric(list(labels), n)
        yield requests
        failures = CounterMetricFamily(
            "locust_failures",
            "Requests the load generator counted as failed.",
            labels=["name", "method"],
        )
        for labels, n in sorted(self.failures.items()):
            failures.add_metric(list(labels), n)
        yield failures
        durations = HistogramMetricFamily(
            "locust_request_duration_seconds",
            "Response time seen by the load generator.",
            labels=["name", "method"],
        )
        for labels, counts in sorted(self.buckets.items()):
            cumulative, seen = [], 0
            for bound, n in zip((*map(_le, BUCKETS_S), "+Inf"), counts, strict=True):
                seen += n
                cumulative.append((bound, seen))
            durations.add_metric(list(labels), cumulative, sum_value=self.sums[labels])
        yield durations
        users = self.users()
        yield GaugeMetricFamily("locust_users", "Users currently running.", value=users)
        yield GaugeMetricFamily(
            "locust_offered_per_second",
            "Tasks per second the open-model users are paced to send (0: closed model).",
            value=users * self.tasks_per_user_s,
        )
        yield GaugeMetricFamily(
            "locust_loop_lag_seconds",
            "How late the load generator's event loop woke, worst of the newest second.",
            value=self.loop_lag_s,
        )
        yield CounterMetricFamily(
            "locust_pace_missed",
            "Open-model tasks that could not start on their user's pace.",
            value=self.pace_missed,
        )


def _le(bound_s: float) -> str:
    return repr(float(bound_s))


def _bucket_index(lower_ms: float) -> int:
    """The first boundary a latency bucket starting at ``lower_ms`` lies under (or +Inf)."""
    for index, bound_s in enumerate(BUCKETS_S):
        if lower_ms < bound_s * 1000:
            return index
    return len(BUCKETS_S)
