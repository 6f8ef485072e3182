"""Self-stop on a dead target: the failure ratio stayed over a bound for too long.

Fed one completed second at a time (the live records). A second without any
completed request neither starts nor ends a bad streak, so a target that
only times out is caught when its timeouts land.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any


class FailureWatch:
    """Says why to stop once ``failures / requests > bound`` has held for ``after_s``."""

    def __init__(self, bound: float, after_s: int) -> None:
        self.bound = bound
        self.after_s = after_s
        self.bad_since: int | None = None
        self.count = self.failures = 0
        self.codes: Counter[str] = Counter()

    def feed(self, t: int, by_name: dict[str, dict[str, Any]]) -> str | None:
        """Account for second ``t``; the reason to stop, or None."""
        count = sum(stats.get("count", 0) for stats in by_name.values())
        if not count:
            return None
        failures = sum(stats.get("failures", 0) for stats in by_name.values())
        if failures / count <= self.bound:
            self.bad_since, self.count, self.failures = None, 0, 0
            self.codes.clear()
            return None
        if self.bad_since is None:
            self.bad_since = t
        self.count += count
        self.failures += failures
        for stats in by_name.values():
            self.codes.update(stats.get("codes", {}))
        if t + 1 - self.bad_since < self.after_s:
            return None
        return (
            f"self-stop: the failure ratio stayed over {self.bound:g} for {t + 1 - self.bad_since} s "
            f"(since {_clock(self.bad_since)} UTC {self.failures} of {self.count} requests failed; "
            f"status codes {dict(sorted(self.codes.items()))}, 0 = no answer): the target looks "
            "down or refusing, so the load stopped itself instead of hammering it"
        )


def _clock(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
