"""Load shapes: one per file, pure Python (no Locust), so the chaos process imports them to
check a shape before any load (``gameday.locustrun``), and Locust runs the same code.

``build(name, params)`` returns a checked shape whose ``tick(run_time_s)``
gives ``(users, spawn_rate)`` or None to stop. ``workloads/shapefile.py``
hands it to Locust as a ``LoadTestShape``.
"""

from __future__ import annotations

from typing import Any

from .base import MAX_USERS, Shape, ShapeError, Stage
from .search import Search, users_for
from .soak import Soak
from .spike import Spike
from .stairs import Stairs
from .sustained import Sustained

__all__ = ["MAX_USERS", "SHAPES", "Shape", "ShapeError", "Stage", "build", "users_for"]

SHAPES: dict[str, type[Shape]] = {
    "stairs": Stairs,
    "spike": Spike,
    "sustained": Sustained,
    "soak": Soak,
    "search": Search,
}


def build(name: str, params: dict[str, Any] | None = None) -> Shape:
    """The shape ``name`` with ``params``; ShapeError naming the problem if they are wrong."""
    if name not in SHAPES:
        raise ShapeError(f"unknown load shape {name!r}: choose among {', '.join(SHAPES)}")
    if params is not None and not isinstance(params, dict):
        raise ShapeError(f"shape_params of the {name} shape must be a mapping, got {params!r}")
    return SHAPES[name].from_params(params or {})
