"""Load during an experiment: Locust in its own process group, never outliving the run.

``start`` checks every input (``gameday.loadplan``), builds Locust's command
line and environment (the variables of ``workloads.env``), records the run in
the fault ledger (kind ``locust``) with the mark its processes will carry, THEN
spawns ``python -m locust`` headless in a new session, adds the master's pid and
start time to the entry, writes ``<state_dir>/load/current.json`` and waits for
the first live line. ``stop`` interrupts it (Locust then writes its final CSV,
JSON and HTML), kills whatever is left of the run, resolves the ledger entry and
writes ``summary.json`` (``gameday.loadsummary``). The ledger's reverter is
``gameday.locustprocess.revert``.

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
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gameday import interrupts, ledger, loadplan, locustprocess, procs
from gameday.errors import LoadError
from gameday.loadplan import METRICS_PORT, REQUEST_TIMEOUT_S, LoadPlan, format_user_classes
from gameday.loadsummary import run_files, summarise
from gameday.target import LoadSection, Target
from workloads import env

__all__ = ["LOCUSTFILE", "LoadError", "NotRunning", "current", "latest", "start", "stop"]

LOCUSTFILE = Path(__file__).resolve().parent.parent / "workloads" / "locustfile.py"
SHAPEFILE = LOCUSTFILE.parent / "shapefile.py"
STARTUP_TIMEOUT_S = 20.0
WORKERS_MAX_WAIT_S = 20  # how long the master waits for all its workers to join
STOP_TIMEOUT_S = 3
SELF_STOP_EXIT_CODE = 3
GAVE_UP = "Gave up waiting for workers to connect"  # Locust's words (locust/main.py)
JOINED = re.compile(r"reported as ready\. (\d+) workers connected")  # locust/runners.py


class NotRunning(LoadError):
    """No load run is recorded for this target."""


def current(target: Target) -> dict[str, Any]:
    """The recorded load run of ``target``; NotRunning if there is none."""
    path = locustprocess.current_file(target)
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
        return json.loads(locustprocess.last_file(target).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise NotRunning(
            f"no load run is recorded in {locustprocess.current_file(target).parent}: "
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
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> dict[str, Any]:
    """Start Locust headless against ``host``; return once it reports its first second.

    Nothing starts, and nothing is recorded, unless every input is right (``gameday.loadplan``),
    the kill switch is off, no other run is going and the ports are free.
    """
    plan = LoadPlan(
        host,
        users,
        spawn_rate,
        run_time_s,
        dict(user_classes),
        shape,
        shape_params or {},
        workers,
        abort_failure_ratio,
        abort_after_s,
        dashboard_interval_s,
        metrics_port,
        request_timeout_s,
    )
    loadplan.check_target(plan, target)
    _refuse_unsafe(target)
    loadplan.check_ports(plan, target.load)
    files = run_files(Path(run_dir).resolve())
    files["dir"].mkdir(parents=True, exist_ok=True)
    for name in ("live", "acked"):
        files[name].touch()
    return _spawn_and_record(
        _command(plan, files, target.load),
        _environment(plan, files, target.load),
        plan,
        files,
        target,
    )


def _refuse_unsafe(target: Target) -> None:
    """No load while the kill switch is set or another run is going."""
    if target.kill_switch.exists():
        raise LoadError(
            f"refusing to start load: the kill switch {target.kill_switch} is set; "
            "remove it once the lab is safe"
        )
    try:
        run = current(target)
    except NotRunning:
        return
    if locustprocess.members(run.get("mark", "")):
        raise LoadError(
            f"a load run is already going (pid {run['pid']}, {run['run_dir']}): "
            "stop it with actions.load.stop_load or `gameday recover` first"
        )


def _command(plan: LoadPlan, files: dict[str, Path], load: LoadSection) -> list[str]:
    """``python -m locust`` headless, writing its CSVs, JSON and HTML into the run's files."""
    locustfiles = f"{LOCUSTFILE},{SHAPEFILE}" if plan.shape else str(LOCUSTFILE)
    command = [sys.executable, "-m", "locust", "-f", locustfiles, "--headless"]
    command += ["-t", f"{plan.run_time_s}s", "--host", plan.host]
    if plan.shape is None:
        command += ["-u", str(plan.users), "-r", str(plan.spawn_rate)]
    command += _distribution(plan.workers, load)
    command += ["--csv", str(files["dir"] / "locust"), "--csv-full-history"]
    command += ["--html", str(files["html"]), "--json-file", str(files["dir"] / "stats")]
    command += ["--only-summary", "--stop-timeout", str(STOP_TIMEOUT_S)]
    return [*command, "--exit-code-on-error", "0"]


def _environment(plan: LoadPlan, files: dict[str, Path], load: LoadSection) -> dict[str, str]:
    """The run's settings for the Locust side, by the names of ``workloads.env``."""
    settings = {
        env.USER_CLASSES: format_user_classes(plan.user_classes),
        env.DASHBOARD_INTERVAL_S: str(plan.dashboard_interval_s),
        env.REQUEST_TIMEOUT_S: repr(float(plan.request_timeout_s)),
        env.LIVE_FILE: str(files["live"]),
        env.ACKED_FILE: str(files["acked"]),
        env.METRICS_PORT: str(plan.metrics_port),
        env.ABORT_FAILURE_RATIO: repr(float(plan.abort_failure_ratio)),
        env.ABORT_AFTER_S: str(plan.abort_after_s),
    }
    if plan.shape is not None:
        settings[env.SHAPE] = plan.shape_name
        settings[env.SHAPE_PARAMS] = json.dumps(plan.shape_params)
        if plan.shape.tasks_per_user_s:
            settings[env.TASKS_PER_USER_S] = repr(plan.shape.tasks_per_user_s)
    if plan.workers and load.remote_workers:
        # Locust's --processes expects exactly `workers`: the master adds the remote ones
        settings[env.EXPECT_WORKERS] = str(plan.workers + load.remote_workers)
    return {**os.environ, "PYTHONUNBUFFERED": "1", **settings}


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


def _spawn_and_record(
    command: list[str],
    environment: dict[str, str],
    plan: LoadPlan,
    files: dict[str, Path],
    target: Target,
) -> dict[str, Any]:
    """Record the run, start Locust in its own session, add its master's pid and start time
    to the entry, and wait for its first live second. Whatever stops this in between (a
    signal, a full disk) stops the Locust it started; after a SIGKILL, recovery finds the
    run by the mark the entry holds."""
    remote = target.load.remote_workers
    mark = uuid.uuid4().hex
    book = ledger.ledger_for(target)
    entry_id = book.record(
        "locust",
        plan.host,
        {"mark": mark, "pid": None, "run_dir": str(files["dir"].parent)},
        note=f"{plan.describe()}, {plan.workers} worker(s), {remote} remote",
    )
    process, master = _spawn(command, {**environment, locustprocess.MARK_ENV: mark}, files)
    try:
        book.update(entry_id, **master)
    except BaseException:  # whatever started must not outlive the failure (a full disk)
        locustprocess.terminate(mark)
        book.resolve(entry_id)
        raise
    run = {
        "run_dir": str(files["dir"].parent),
        "pid": process.pid,
        "mark": mark,
        "master": master,
        "host": plan.host,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ledger_id": entry_id,
        "users": plan.max_users,
        "run_time_s": plan.run_time_s,
        "user_classes": plan.user_classes,
        "shape": plan.shape_name,
        "shape_params": plan.shape_params,
        "shape_duration_s": plan.shape.duration_s if plan.shape else None,
        "workers": plan.workers,
        "remote_workers": remote,
        "metrics_url": f"http://127.0.0.1:{plan.metrics_port}/metrics",
        "abort_failure_ratio": plan.abort_failure_ratio,
        "abort_after_s": plan.abort_after_s,
        "request_timeout_s": float(plan.request_timeout_s),
        "live_file": str(files["live"]),
        "acked_file": str(files["acked"]),
    }
    _write_json(locustprocess.current_file(target), run)
    _wait_first_second(process, files, target, run, plan.workers)
    return run


def _spawn(
    command: list[str], environment: dict[str, str], files: dict[str, Path]
) -> tuple[subprocess.Popen, dict]:
    """Start Locust in a session of its own; return it and its master's identity (read
    before any signal is handled: ``interrupts.deferred``)."""
    with interrupts.deferred(), open(files["log"], "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=files["dir"],
            start_new_session=True,
        )
        return process, procs.identity(process.pid) or {"pid": process.pid}


def stop(target: Target) -> dict[str, Any]:
    """Stop the recorded run gracefully; return its files, outcome and summary totals."""
    run = current(target)
    stopped = locustprocess.terminate(run.get("mark", ""), run.get("master"))
    ledger.ledger_for(target).resolve(run.get("ledger_id", ""))
    try:
        os.replace(locustprocess.current_file(target), locustprocess.last_file(target))
    except FileNotFoundError:
        pass  # a concurrent `gameday recover` moved it first
    files = run_files(Path(run["run_dir"]))
    summary = summarise(run, stopped)
    _write_json(files["summary"], summary)
    return {
        **summary,
        "files": {key: str(path) for key, path in files.items() if key != "dir" and path.exists()},
    }


def _wait_first_second(
    process: subprocess.Popen,
    files: dict[str, Path],
    target: Target,
    run: dict[str, Any],
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
    locustprocess.terminate(run["mark"], run["master"])
    ledger.ledger_for(target).resolve(run["ledger_id"])
    locustprocess.current_file(target).unlink(missing_ok=True)
    log = _tail(files["log"], lines=0)
    if target.load.remote_workers and GAVE_UP in log:
        raise LoadError(_workers_missing(workers, target.load, log, files["log"]))
    raise LoadError(f"Locust {reason}; end of {files['log']}:\n{_tail(files['log'])}")


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
