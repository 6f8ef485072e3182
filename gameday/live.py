"""The live line of a game day: one line a second that a person reads from across the room.

    [2/6] kill-postgres  fault  01:12 / ~00:35 left (session ~06:10)  |  46 answered/s  4 failed/s  P99 12 ms  |  last probe: orders-fail-fast-with-503 ok

Experiment k/n, its phase (from ``<run_dir>/progress.json``, see
``controls.progress``), elapsed and remaining time (and the session's, when experiments
follow), answered/s, failed/s and P99 of
the newest complete second of its load (``live.jsonl``), and the last probe's verdict.
Between experiments it says what the session waits for (gate, cool-down, paused).
With a terminal it is redrawn in place with ``rich``; otherwise one plain line a second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from gameday import livestats

__all__ = ["LiveLine", "describe"]


def describe(status: dict[str, Any]) -> str:
    """The line for ``status`` (see ``Session.status``)."""
    head = f"[{status['k']}/{status['n']}] {status['name']}"
    state = status.get("state", "running")
    elapsed = time.time() - status["since"]
    if state != "running":
        return f"{head}  {state}  {_clock(elapsed)}  {status.get('detail', '')}".rstrip()
    run_dir = Path(status["run_dir"])
    progress = _json(run_dir / "progress.json")
    left = max(status.get("estimate_s", 0) - elapsed, 0)
    after = status.get("after_s")
    session = f" (session ~{_clock(left + after)})" if after else ""
    parts = [
        f"{head}  {progress.get('phase', 'starting')}  {_clock(elapsed)} / ~{_clock(left)} left"
        + session,
        _load(run_dir / "locust" / "live.jsonl"),
    ]
    probe = progress.get("last_probe")
    if probe:
        parts.append(f"last probe: {probe['name']} {'ok' if probe['ok'] else 'FAILED'}")
    return "  |  ".join(parts)


class LiveLine:
    """Prints ``describe(status())`` every second until stopped."""

    def __init__(self, status: Callable[[], dict[str, Any] | None], out: TextIO) -> None:
        self.status = status
        self.out = out
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="live-line", daemon=True)
        self.rich = _is_terminal(out)

    def __enter__(self) -> LiveLine:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        if self.rich:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            with Live("", console=Console(file=self.out), auto_refresh=False) as live:
                self._each_second(lambda line: live.update(Text(line), refresh=True))
        else:
            self._each_second(lambda line: print(line, file=self.out, flush=True))

    def _each_second(self, show: Callable[[str], None]) -> None:
        while not self.stopped.wait(1.0):
            status = self.status()
            if status:
                try:
                    show(describe(status))
                except (OSError, ValueError):
                    continue  # a file being rewritten: the next second will do


def _load(live_file: Path) -> str:
    try:
        records = livestats.read_seconds(live_file, last=3)
    except livestats.LiveStatsError:
        return "no load yet"
    if not records:
        return "no load yet"
    newest = livestats.merge(records[-1:])
    p99 = livestats.percentile(newest["hist"], 0.99)
    answered = newest["count"] - newest["failures"]
    latency = f"P99 {p99:.0f} ms" if p99 is not None else "P99 -"
    return f"{answered} answered/s  {newest['failures']} failed/s  {latency}"


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
