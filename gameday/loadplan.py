"""A load run's inputs, every one checked before anything starts (``gameday.locustrun``).

A ``LoadPlan`` checks itself when made: the users, spawn rate and run time, the
user classes, the load shape (``workloads.shapes``, pure Python), the workers,
the self-stop and the dashboard interval. ``check_target`` checks the host
against the loopback rule and the remote workers, ``check_ports`` that the
ports the run will listen on are free. Each ``LoadError`` names the input and
what it takes.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gameday.errors import LoadError
from gameday.httpcheck import HttpCheckError, is_loopback, require_loopback
from gameday.target import LoadSection, Target
from workloads import env, shapes

__all__ = [
    "DEFAULT_USER_CLASSES",
    "METRICS_PORT",
    "USER_CLASSES",
    "LoadPlan",
    "check_ports",
    "check_shape",
    "check_target",
    "format_user_classes",
    "parse_user_classes",
]

USER_CLASSES = (  # workloads/locustfile.py's PROFILES; a test keeps them equal
    "CoffeeConsumer",
    "DowntownRegular",
    "CappuccinoLover",
    "RushHourCustomer",
    "DashboardViewer",
    "DashboardWatcher",
)
DEFAULT_USER_CLASSES = env.DEFAULT_USER_CLASSES
MAX_RUN_TIME_S = 24 * 3600
MAX_WORKERS = 16
METRICS_PORT = 9646
REQUEST_TIMEOUT_S = 60.0  # Locust's own; experiments derive theirs from their bounds


@dataclass(frozen=True)
class LoadPlan:
    """The inputs of one load run (see ``gameday.locustrun.start``), checked when made:
    LoadError names the first that is wrong. ``check_target`` and ``check_ports`` check
    the rest against the target."""

    host: str
    users: int
    spawn_rate: float
    run_time_s: int
    user_classes: dict[str, int]
    shape_name: str = ""
    shape_params: dict[str, Any] = field(default_factory=dict)
    workers: int = 0
    abort_failure_ratio: float = 0
    abort_after_s: int = 0
    dashboard_interval_s: float = 10
    metrics_port: int = METRICS_PORT
    request_timeout_s: float = REQUEST_TIMEOUT_S
    shape: shapes.Shape | None = field(init=False)  # None: plain users at a spawn rate

    def __post_init__(self) -> None:
        _check_inputs(self.users, self.spawn_rate, self.run_time_s)
        _check_user_classes(self.user_classes)
        object.__setattr__(
            self, "shape", check_shape(self.shape_name, self.shape_params, self.run_time_s)
        )
        _check_workers(self.workers)
        _check_self_stop(self.abort_failure_ratio, self.abort_after_s)
        for name in ("dashboard_interval_s", "request_timeout_s"):
            value = getattr(self, name)
            if not _number(value) or not value > 0:
                raise LoadError(f"{name} must be a positive number, got {value!r}")

    @property
    def max_users(self) -> int:
        return self.shape.max_users if self.shape else self.users

    def describe(self) -> str:
        """What runs, for the ledger's note and the logs."""
        load = (
            f"{self.shape_name} shape {json.dumps(self.shape_params)}"
            if self.shape
            else f"{self.users} users"
        )
        return f"{load}, {self.run_time_s} s, {format_user_classes(self.user_classes)}"


def check_target(plan: LoadPlan, target: Target) -> None:
    """The host may be loaded from here (loopback unless allowed) and by any remote workers."""
    try:
        require_loopback(plan.host, target.allow_remote_target)
    except HttpCheckError as exc:
        raise LoadError(str(exc)) from None
    _check_remote_workers(plan.host, target.load)


def check_ports(plan: LoadPlan, load: LoadSection) -> None:
    """The metrics port, and the master's port for remote workers, are free to listen on."""
    _check_port_free(plan.metrics_port, "load metrics port (metrics_port)")
    if load.remote_workers:
        _check_port_free(
            load.master_port,
            "Locust master port (load.master_port of the target file)",
            load.master_bind_host,
        )


def check_shape(
    shape: str, shape_params: dict[str, Any] | None, run_time_s: int
) -> shapes.Shape | None:
    """The checked load shape (None for plain users/spawn rate); LoadError naming the problem."""
    if not shape:
        if shape_params:
            raise LoadError(
                f"shape_params {shape_params!r} given without a shape: set shape to "
                f"one of {', '.join(shapes.SHAPES)}"
            )
        return None
    try:
        load_shape = shapes.build(shape, shape_params)
    except shapes.ShapeError as exc:
        raise LoadError(str(exc)) from None
    if load_shape.duration_s > run_time_s:
        raise LoadError(
            f"the {shape} shape lasts {load_shape.duration_s:g} s, longer than the run's bound "
            f"of {run_time_s} s (duration_s / load_limit_s): raise the bound or shorten the shape"
        )
    return load_shape


def parse_user_classes(spec: str) -> dict[str, int]:
    """``"A=10,B=5"`` -> ``{"A": 10, "B": 5}``, checking names and weights."""
    chosen: dict[str, int] = {}
    for part in filter(None, (item.strip() for item in str(spec).split(","))):
        name, _, weight = part.partition("=")
        try:
            chosen[name.strip()] = int(weight.strip() or "1")
        except ValueError:
            raise LoadError(
                f"user class weight {weight!r} of {name.strip()!r} is not an integer: "
                f"write e.g. {DEFAULT_USER_CLASSES!r}"
            ) from None
    return _check_user_classes(chosen)


def format_user_classes(user_classes: dict[str, int]) -> str:
    """The ``COFFEE_USER_CLASSES`` form of ``user_classes``."""
    return ",".join(f"{name}={weight}" for name, weight in user_classes.items())


def _check_inputs(users: int, spawn_rate: float, run_time_s: int) -> None:
    if not _whole(users) or not 1 <= users <= shapes.MAX_USERS:
        raise LoadError(f"users must be a whole number from 1 to {shapes.MAX_USERS}, got {users!r}")
    if not _number(spawn_rate) or spawn_rate <= 0:
        raise LoadError(
            f"spawn_rate must be a positive number of users per second, got {spawn_rate!r}"
        )
    if not _whole(run_time_s) or not 1 <= run_time_s <= MAX_RUN_TIME_S:
        raise LoadError(
            f"run time must be a whole number of seconds from 1 to {MAX_RUN_TIME_S}, "
            f"got {run_time_s!r}"
        )


def _check_user_classes(chosen: dict[str, int]) -> dict[str, int]:
    if not chosen:
        raise LoadError(f"no user class chosen: name some, e.g. {DEFAULT_USER_CLASSES!r}")
    for name, weight in chosen.items():
        if name not in USER_CLASSES:
            raise LoadError(f"unknown user class {name!r}: choose among {', '.join(USER_CLASSES)}")
        if not _whole(weight) or weight < 1:
            raise LoadError(
                f"weight of user class {name!r} must be a whole number >= 1, got {weight!r}"
            )
    return chosen


def _check_workers(workers: int) -> None:
    if not _whole(workers) or not 0 <= workers <= MAX_WORKERS:
        raise LoadError(
            f"workers must be a whole number from 0 (one process) to {MAX_WORKERS}, got {workers!r}"
        )


def _check_remote_workers(host: str, load: LoadSection) -> None:
    """Workers on other machines load ``host`` from there: it must not be loopback."""
    if (
        load.remote_workers
        and not load.bind_is_loopback
        and is_loopback(urlsplit(host).hostname or "")
    ):
        raise LoadError(
            f"refusing {load.remote_workers} remote worker(s): the master listens on "
            f"{load.master_bind_host} for workers on other machines, but the target {host} is "
            "a loopback address, so each of them would load its own 127.0.0.1 instead of the "
            "system under test; set the target's api_url to an address the workers route to "
            "(and allow_remote_target: true in the experiment's configuration), or drop the "
            "target file's load section to load from this machine only"
        )


def _check_self_stop(ratio: float, after_s: int) -> None:
    if not _number(ratio) or not 0 <= ratio < 1:
        raise LoadError(
            f"abort_failure_ratio must be a number from 0 (no self-stop) to below 1, got {ratio!r}"
        )
    if not _whole(after_s) or not 0 <= after_s <= MAX_RUN_TIME_S:
        raise LoadError(f"abort_after_s must be a whole number of seconds >= 0, got {after_s!r}")
    if bool(ratio) != bool(after_s):
        raise LoadError(
            f"self-stop needs both abort_failure_ratio (got {ratio!r}) and abort_after_s "
            f"(got {after_s!r}) above 0, or both 0 to disable it"
        )


def _check_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    if not _whole(port) or not 1 <= port <= 65535:
        raise LoadError(f"{what} must be a TCP port from 1 to 65535, got {port!r}")
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    with socket.socket(family) as probe:
        # as the server will: a port left in TIME_WAIT by Prometheus' scrapes is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise LoadError(
                    f"the {what} {host}:{port} cannot be bound ({exc.strerror}): "
                    f"{host} must be an address of this machine"
                ) from None
            raise LoadError(
                f"the {what} {host}:{port} is taken ({exc.strerror}): another load run or "
                f"program holds it; stop it (`ss -ltnp 'sport = :{port}'`) or choose another port"
            ) from None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
