"""Garbage collection: a full one stops the event loop, and every request with it.

``time_collections`` observes each collection in ``python_gc_pause_seconds``;
``freeze_startup_objects`` moves everything alive once the app has started
(modules, routes, models: ~70,000 objects) out of the collector's sight, so a
full collection only walks what requests allocated since (gc.freeze).
"""

from __future__ import annotations

import gc
from time import perf_counter
from typing import Any

from prometheus_client import Histogram

GC_PAUSE = Histogram(
    "python_gc_pause_seconds",
    "Time the interpreter spent in one garbage collection, by generation.",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
_BY_GENERATION = [GC_PAUSE.labels(generation=str(g)) for g in range(3)]
_started: list[float] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[:] = [perf_counter()]
    elif _started:
        _BY_GENERATION[info["generation"]].observe(perf_counter() - _started.pop())


def time_collections() -> None:
    """Observe each collection's duration in ``python_gc_pause_seconds`` (idempotent)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
