"""Load during an experiment: Locust in its own process group, never outliving the run.

``start`` checks every input (user classes, load shape, workers, self-stop,
the metrics port) before anything starts, spawns ``python -m locust``
headless in a new session, records it in the fault ledger (kind ``locust``)
and in ``<state_dir>/load/current.json``, then waits for the first live line.
``stop`` interrupts it (Locust then writes its final CSV, JSON and HTML),
kills whatever is left of the group, resolves the ledger entry and writes
``summary.json``. ``revert`` is the ledger's idempotent backstop.

- ``shape``: ``stairs``, ``spike``, ``sustained`` or ``soak`` (``workloads/shapes/``)
  with ``shape_params``; ``users``/``spawn_rate`` are then the shape's, and
  ``run_time_s`` stays the hard bound (the shape must fit in it).
- ``workers=N``: a Locust master plus N local worker processes, all in the run's
  process group; the master alone writes the live file (the workers hand it
  their seconds every second), the CSVs, the report and the metrics.
- Remote workers (the target file's ``load`` section, ``remote_workers`` > 0): the
  master listens on ``master_bind_host:master_port`` and waits for the local and
  remote workers (``WORKERS_MAX_WAIT_S``); if they do not all join, ``start`` fails
  naming how many did, and leaves nothing behind. The remote ones are supervisor
  programs on other hosts (``playbooks/roles/locust``): the master's quit ends them
  and supervisor starts them again for the next run.
- Load metrics for Prometheus on ``127.0.0.1:metrics_port`` while the run lives.
- ``abort_failure_ratio``/``abort_after_s``: Locust stops itself (exit code 3)
  when the failure ratio stays over the bound that long; the reason goes to
  ``locust.log``, the live file and ``summary.json``.

Files of a run, under ``<run_dir>/locust/``: ``locust.log`` (the workers log there too),
``live.jsonl``, ``acked.jsonl``, ``locust_stats.csv``
(and the other CSVs), ``stats.json``, ``report.html``, ``summary.json``.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from gameday import ledger, livestats
from gameday.errors import GamedayError
from gameday.httpcheck import HttpCheckError, is_loopback, require_loopback
from gameday.target import LoadSection, Target
from workloads import env, shapes

__all__ = [
    "DEFAULT_USER_CLASSES",
    "LOCUSTFILE",
    "USER_CLASSES",
    "LoadError",
    "NotRunning",
    "current",
    "latest",
    "format_user_classes",
    "parse_user_classes",
    "revert",
    "start",
    "stop",
]

LOCUSTFILE = Path(__file__).resolve().parent.parent / "workloads" / "locustfile.py"
SHAPEFILE = LOCUSTFILE.parent / "shapefile.py"
USER_CLASSES = (
    "CoffeeConsumer",
    "DowntownRegular",
    "CappuccinoLover",
    "RushHourCustomer",
    "DashboardViewer",
    "DashboardWatcher",
)
DEFAULT_USER_CLASSES = env.DEFAULT_USER_CLASSES
STARTUP_TIMEOUT_S = 20.0
WORKERS_MAX_WAIT_S = 20  # how long the master waits for all its workers to join
STOP_TIMEOUT_S = 3
GRACE_S = 15.0
MAX_RUN_TIME_S = 24 * 3600
MAX_WORKERS = 16
METRICS_PORT = 9646
SELF_STOP_EXIT_CODE = 3


class LoadError(GamedayError):
    """The load could not be started or stopped, or its inputs are wrong."""


class NotRunning(LoadError):
    """No load run is recorded for this target."""


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


def current(target: Target) -> dict[str, Any]:
    """The recorded load run of ``target``; NotRunning if there is none."""
    path = _current_file(target)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NotRunning(
            f"no load run is recorded in {path}: start one with actions.load.start_load"
        ) from None
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"{path} is unreadable ({exc}): stop Locust by hand and delete it"
        ) from None


def latest(target: Target) -> dict[str, Any]:
    """The current run, else the last one stopped; NotRunning if there was none."""
    try:
        return current(target)
    except NotRunning:
        pass
    try:
        return json.loads(_last_file(target).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise NotRunning(
            f"no load run is recorded in {_current_file(target).parent}: "
            "start one with actions.load.start_load, or name the run directory"
        ) from None


def start(
    run_dir: Path | str,
    host: str,
    users: int,
    spawn_rate: float,
    run_time_s: int,
    user_classes: dict[str, int],
    target: Target,
    shape: str = "",
    shape_params: dict[str, Any] | None = None,
    workers: int = 0,
    abort_failure_ratio: float = 0,
    abort_after_s: int = 0,
    dashboard_interval_s: float = 10,
    metrics_port: int = METRICS_PORT,
) -> dict[str, Any]:
    """Start Locust headless against ``host``; return once it reports its first second."""
    _check_inputs(host, users, spawn_rate, run_time_s, target.allow_remote_target)
    classes = _check_user_classes(dict(user_classes))
    plan = check_shape(shape, shape_params, run_time_s)
    _check_workers(workers)
    _check_remote_workers(host, target.load)
    _check_self_stop(abort_failure_ratio, abort_after_s)
    _check_positive("dashboard_interval_s", dashboard_interval_s)
    if target.kill_switch.exists():
        raise LoadError(
            f"refusing to start load: the kill switch {target.kill_switch} is set; "
            "remove it once the lab is safe"
        )
    _refuse_if_running(target)
    _check_port_free(metrics_port, "load metrics port (metrics_port)")
    remote = target.load.remote_workers
    if remote:
        _check_port_free(
            target.load.master_port,
            "Locust master port (load.master_port of the target file)",
            target.load.master_bind_host,
        )
    files = _files(Path(run_dir).resolve())
    files["dir"].mkdir(parents=True, exist_ok=True)
    for name in ("live", "acked"):
        files[name].touch()
    environment = {
        **os.environ,
        env.USER_CLASSES: format_user_classes(classes),
        env.DASHBOARD_INTERVAL_S: str(dashboard_interval_s),
        "PYTHONUNBUFFERED": "1",
    }
    locustfiles = str(LOCUSTFILE)
    if plan is not None:
        locustfiles += f",{SHAPEFILE}"
        environment[env.SHAPE] = shape
        environment[env.SHAPE_PARAMS] = json.dumps(shape_params or {})
        if plan.tasks_per_user_s:
            environment[env.TASKS_PER_USER_S] = repr(plan.tasks_per_user_s)
    master_env = {
        **environment,
        env.LIVE_FILE: str(files["live"]),
        env.ACKED_FILE: str(files["acked"]),
        env.METRICS_PORT: str(metrics_port),
        env.ABORT_FAILURE_RATIO: repr(float(abort_failure_ratio)),
        env.ABORT_AFTER_S: str(abort_after_s),
    }
    if workers and remote:
        master_env[env.EXPECT_WORKERS] = str(workers + remote)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfiles,
        "--headless",
        "-t",
        f"{run_time_s}s",
        "--host",
        host,
    ]
    if plan is None:
        command += ["-u", str(users), "-r", str(spawn_rate)]
    command += _distribution(workers, target.load)
    command += [
        "--csv",
        str(files["dir"] / "locust"),
        "--csv-full-history",
        "--html",
        str(files["html"]),
        "--json-file",
        str(files["dir"] / "stats"),
        "--only-summary",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--exit-code-on-error",
        "0",
    ]
    with open(files["log"], "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=master_env,
            cwd=files["dir"],
            start_new_session=True,
        )
    shape_note = f"{shape} shape {json.dumps(shape_params or {})}" if plan else f"{users} users"
    entry_id = ledger.ledger_for(target).record(
        "locust",
        host,
        {
            "pid": process.pid,
            "pgid": process.pid,
            "run_dir": str(files["dir"].parent),
        },
        note=(
            f"{shape_note}, {run_time_s} s, {format_user_classes(classes)}, "
            f"{workers} worker(s), {remote} remote"
        ),
    )
    run = {
        "run_dir": str(files["dir"].parent),
        "pid": process.pid,
        "host": host,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ledger_id": entry_id,
        "users": plan.max_users if plan else users,
        "run_time_s": run_time_s,
        "user_classes": classes,
        "shape": shape,
        "shape_params": shape_params or {},
        "shape_duration_s": plan.duration_s if plan else None,
        "workers": workers,
        "remote_workers": remote,
        "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics",
        "abort_failure_ratio": abort_failure_ratio,
        "abort_after_s": abort_after_s,
        "live_file": str(files["live"]),
        "acked_file": str(files["acked"]),
    }
    _write_current(target, run)
    _wait_first_second(process, files, target, entry_id, workers)
    return run


def _distribution(workers: int, load: LoadSection) -> list[str]:
    """Locust's options for ``workers`` local and ``load.remote_workers`` remote workers."""
    remote = load.remote_workers
    if not workers and not remote:
        return []
    if remote:
        host, port = load.master_bind_host, load.master_port
    else:
        host, port = "127.0.0.1", _free_port()
    master = ["--master-bind-host", host, "--master-bind-port", str(port)]
    master += ["--expect-workers-max-wait", str(WORKERS_MAX_WAIT_S)]
    if not workers:
        return ["--master", "--expect-workers", str(remote), *master]
    # Locust's own local distribution: this process becomes the master and forks
    # `workers` worker processes, which stay in its process group (and session).
    # Locust then expects exactly `workers`: COFFEE_EXPECT_WORKERS adds the remote ones.
    reach = "127.0.0.1" if ipaddress.ip_address(host).is_unspecified else host
    return [
        "--processes",
        str(workers),
        "--master-host",
        reach,
        "--master-port",
        str(port),
        *master,
    ]


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
        plan = shapes.build(shape, shape_params)
    except shapes.ShapeError as exc:
        raise LoadError(str(exc)) from None
    if plan.duration_s > run_time_s:
        raise LoadError(
            f"the {shape} shape lasts {plan.duration_s:g} s, longer than the run's bound of "
            f"{run_time_s} s (duration_s / load_limit_s): raise the bound or shorten the shape"
        )
    return plan


def stop(target: Target) -> dict[str, Any]:
    """Stop the recorded run gracefully; return its files, outcome and summary totals."""
    run = current(target)
    outcome = _terminate(run["pid"])
    ledger.ledger_for(target).resolve(run.get("ledger_id", ""))
    try:
        os.replace(_current_file(target), _last_file(target))
    except FileNotFoundError:
        pass  # a concurrent `gameday recover` moved it first
    files = _files(Path(run["run_dir"]))
    summary = {
        "run_dir": run["run_dir"],
        "pid": run["pid"],
        **outcome,
        **livestats.outcome(files["live"]),
        "totals": _totals(files),
    }
    _write_json(files["summary"], summary)
    return {
        **summary,
        "files": {key: str(path) for key, path in files.items() if key != "dir" and path.exists()},
    }


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Ledger reverter: stop the recorded Locust group if it is still there (idempotent)."""
    pid = int(entry["revert"]["pid"])
    outcome = _terminate(pid)
    path = _current_file(target)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            os.replace(path, _last_file(target))
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    return {"pid": pid, **outcome}


def _terminate(pid: int) -> dict[str, Any]:
    """SIGINT the Locust (master) process, wait, then SIGKILL whatever is left of its group."""
    if not _is_locust(pid):
        _reap(pid)
        outcome = {"stopped": "already gone"}
    else:
        os.kill(pid, signal.SIGINT)
        outcome = {"stopped": "gracefully"}
        if not _wait_gone(pid, GRACE_S):
            _kill_group(pid)
            outcome = {"stopped": "killed"}
            if not _wait_gone(pid, 5.0):
                raise LoadError(
                    f"Locust (pid {pid}) survived SIGKILL: kill its process group by hand"
                )
    _stop_group_leftovers(pid)
    return outcome


def _stop_group_leftovers(pgid: int) -> None:
    """Workers quit with their master; SIGKILL the group if any is still there after 5 s."""
    if _wait_until(lambda: not _group_alive(pgid), 5.0):
        return
    _kill_group(pgid)
    if not _wait_until(lambda: not _group_alive(pgid), 5.0):
        raise LoadError(
            f"Locust workers of group {pgid} survived SIGKILL: "
            f"kill them by hand (kill -9 -- -{pgid})"
        )


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in process group ``pgid``."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def _wait_until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _is_locust(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process whose command line mentions locust."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "locust" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _is_locust(pid):
            return True
        time.sleep(0.1)
    return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _wait_first_second(
    process: subprocess.Popen,
    files: dict[str, Path],
    target: Target,
    entry_id: str,
    workers: int,
) -> None:
    distributed = workers or target.load.remote_workers
    timeout_s = STARTUP_TIMEOUT_S + (WORKERS_MAX_WAIT_S if distributed else 0)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if files["live"].stat().st_size > 0:
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    reason = (
        f"exited with code {process.returncode}"
        if process.poll() is not None
        else f"wrote no live statistics within {timeout_s:.0f} s"
    )
    _terminate(process.pid)
    ledger.ledger_for(target).resolve(entry_id)
    _current_file(target).unlink(missing_ok=True)
    log = _tail(files["log"], lines=0)
    if target.load.remote_workers and GAVE_UP in log:
        raise LoadError(_workers_missing(workers, target.load, log, files["log"]))
    raise LoadError(f"Locust {reason}; end of {files['log']}:\n{_tail(files['log'])}")


GAVE_UP = "Gave up waiting for workers to connect"  # Locust's words (locust/main.py)
JOINED = re.compile(r"reported as ready\. (\d+) workers connected")  # locust/runners.py


def _workers_missing(workers: int, load: LoadSection, log: str, log_path: Path) -> str:
    """Why no load ran: not every worker joined the master in time, and what to check."""
    joined = JOINED.findall(log)
    return (
        f"the Locust master expected {workers + load.remote_workers} worker(s) ({workers} "
        f"local, {load.remote_workers} remote) but only {joined[-1] if joined else 0} joined "
        f"within {WORKERS_MAX_WAIT_S} s, so no load ran: check that the `locust-worker` "
        "program runs on the hosts of inventory group locust_workers (`supervisorctl status "
        "locust-worker`, /var/log/coffee-chaos/locust-worker.log) and that they reach the "
        f"master at {load.master_bind_host}:{load.master_port} (their locust_master_host and "
        f"locust_master_port, firewalls); the master's log: {log_path}"
    )


def _check_inputs(
    host: str, users: int, spawn_rate: float, run_time_s: int, allow_remote_target: bool
) -> None:
    if not isinstance(users, int) or isinstance(users, bool) or not 1 <= users <= shapes.MAX_USERS:
        raise LoadError(f"users must be a whole number from 1 to {shapes.MAX_USERS}, got {users!r}")
    if not isinstance(spawn_rate, int | float) or isinstance(spawn_rate, bool) or spawn_rate <= 0:
        raise LoadError(
            f"spawn_rate must be a positive number of users per second, got {spawn_rate!r}"
        )
    if (
        not isinstance(run_time_s, int)
        or isinstance(run_time_s, bool)
        or not 1 <= run_time_s <= MAX_RUN_TIME_S
    ):
        raise LoadError(
            f"run time must be a whole number of seconds from 1 to {MAX_RUN_TIME_S}, "
            f"got {run_time_s!r}"
        )
    try:
        require_loopback(host, allow_remote_target)
    except HttpCheckError as exc:
        raise LoadError(str(exc)) from None


def _check_user_classes(chosen: dict[str, int]) -> dict[str, int]:
    if not chosen:
        raise LoadError(f"no user class chosen: name some, e.g. {DEFAULT_USER_CLASSES!r}")
    for name, weight in chosen.items():
        if name not in USER_CLASSES:
            raise LoadError(f"unknown user class {name!r}: choose among {', '.join(USER_CLASSES)}")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise LoadError(
                f"weight of user class {name!r} must be a whole number >= 1, got {weight!r}"
            )
    return chosen


def _check_workers(workers: int) -> None:
    if not isinstance(workers, int) or isinstance(workers, bool) or not 0 <= workers <= MAX_WORKERS:
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
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio < 1:
        raise LoadError(
            f"abort_failure_ratio must be a number from 0 (no self-stop) to below 1, got {ratio!r}"
        )
    if (
        not isinstance(after_s, int)
        or isinstance(after_s, bool)
        or not 0 <= after_s <= MAX_RUN_TIME_S
    ):
        raise LoadError(f"abort_after_s must be a whole number of seconds >= 0, got {after_s!r}")
    if bool(ratio) != bool(after_s):
        raise LoadError(
            f"self-stop needs both abort_failure_ratio (got {ratio!r}) and abort_after_s "
            f"(got {after_s!r}) above 0, or both 0 to disable it"
        )


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise LoadError(f"{name} must be a positive number, got {value!r}")


def _check_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _refuse_if_running(target: Target) -> None:
    try:
        run = current(target)
    except NotRunning:
        return
    if _is_locust(run["pid"]):
        raise LoadError(
            f"a load run is already going (pid {run['pid']}, {run['run_dir']}): "
            "stop it with actions.load.stop_load or `gameday recover` first"
        )


def _files(run_dir: Path) -> dict[str, Path]:
    base = run_dir / "locust"
    return {
        "dir": base,
        "log": base / "locust.log",
        "live": base / "live.jsonl",
        "acked": base / "acked.jsonl",
        "stats_csv": base / "locust_stats.csv",
        "history_csv": base / "locust_stats_history.csv",
        "failures_csv": base / "locust_failures.csv",
        "json": base / "stats.json",
        "html": base / "report.html",
        "summary": base / "summary.json",
    }


def _totals(files: dict[str, Path]) -> dict[str, Any]:
    """Final totals from Locust's stats.json, plus the number of acknowledged orders.

    stats.json is written at shutdown; locust_stats.csv may miss the last second.
    """
    totals: dict[str, Any] = {}
    try:
        entries = json.loads(files["json"].read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        entries = None
        totals["error"] = f"{files['json']} was not written: see {files['log']}"
    if entries is not None:
        times: dict[int, int] = {}
        for entry in entries:
            for ms, n in entry["response_times"].items():
                times[int(ms)] = times.get(int(ms), 0) + n
        requests = sum(entry["num_requests"] for entry in entries)
        span = (
            (
                max((e["last_request_timestamp"] or 0) for e in entries)
                - min(e["start_time"] for e in entries)
            )
            if entries
            else 0
        )
        totals = {
            "requests": requests,
            "failures": sum(entry["num_failures"] for entry in entries),
            "rps": round(requests / span, 3) if span > 0 else 0.0,
            **{f"p{round(q * 100)}_ms": _rank(times, q) for q in (0.50, 0.95, 0.99)},
        }
    try:
        with open(files["acked"], "rb") as handle:
            totals["acknowledged_orders"] = sum(1 for _ in handle)
    except FileNotFoundError:
        totals["acknowledged_orders"] = 0
    return totals


def _rank(times: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile of Locust's rounded response times (ms)."""
    target_rank = math.ceil(fraction * sum(times.values()))
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= target_rank:
            return ms
    return None


def _current_file(target: Target) -> Path:
    return target.state_dir / "load" / "current.json"


def _last_file(target: Target) -> Path:
    return target.state_dir / "load" / "last.json"


def _write_current(target: Target, run: dict[str, Any]) -> None:
    _write_json(_current_file(target), run)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of ``path`` (0: all of it)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
