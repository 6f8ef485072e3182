"""Service control: status, kill, stop, start and restart of a target's services.

Two platforms: supervisor (XML-RPC over its unix socket; a kill is SIGKILL to the
program's process group and all its descendants) and Kubernetes (``gameday.kubeservices``,
through chaostoolkit-kubernetes: a kill holds the controller at 0 and deletes the pods with
no grace period, a stop scales it to 0).
Every fault-making call records a ledger entry BEFORE acting; ``start`` resolves
the service's open entries, so ``revert`` (used by ``ledger.recover``) is ``start``.
A kill's SIGSTOP-then-SIGKILL window defers signals (``gameday.interrupts``), and
``start`` continues any process of the program left stopped (state T) by a kill
whose runner was SIGKILLed in that window. The supervisor part needs only the
standard library (recovery runs it with the machine's python3).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from gameday import interrupts, kubeservices, procs, supervisor_rpc
from gameday.errors import ServiceError
from gameday.ledger import ledger_for
from gameday.target import Service, Target

__all__ = ["kill", "kill_one_pod", "restart", "revert", "start", "status", "stop"]

STOPPED_STATES = ("STOPPED", "EXITED", "FATAL")
POLL_S = 0.1
Secrets = dict[str, Any] | None


def status(name: str, target: Target, secrets: Secrets = None) -> dict[str, Any]:
    """Where ``name`` stands: {service, program, platform, state, pid, uptime, running}."""
    service = target.service(name)
    if target.platform == "kubernetes":
        return kubeservices.status(service, secrets)
    return _facts(service, _info(target, service))


def kill(name: str, target: Target, timeout_s: float = 10.0, secrets: Secrets = None) -> dict:
    """Kill ``name`` abruptly (SIGKILL to its process tree, or pods with no grace)."""
    service = target.service(name)
    if target.platform == "kubernetes":
        return kubeservices.kill(service, target, timeout_s, secrets)
    info = _info(target, service)
    if info["statename"] != "RUNNING":
        raise ServiceError(
            f"cannot kill service {name!r}: supervisor program {service.program!r} is "
            f"{info['statename']}, not RUNNING; start it first (`gameday recover`)"
        )
    pid = info["pid"]
    pgid = _process_group(target, service, pid)
    entry_id = ledger_for(target).record(
        "service",
        name,
        {"action": "start", "platform": "supervisor"},
        note=f"SIGKILL to process group {pgid} and descendants of program {service.program}",
    )
    began = time.monotonic()
    killed = _kill_tree(service, pid, pgid)
    after = _wait(
        target,
        service,
        lambda i: i["statename"] != "RUNNING" or i["pid"] != pid,
        timeout_s,
        "stop running after SIGKILL",
    )
    _wait_gone(service, killed, began + timeout_s)
    return {
        **_facts(service, after),
        "killed_pid": pid,
        "process_group": pgid,
        "killed_pids": [p.pid for p in killed],
        "signal": "SIGKILL",
        "seconds": round(time.monotonic() - began, 3),
        "ledger_id": entry_id,
    }


def stop(name: str, target: Target, timeout_s: float = 60.0, secrets: Secrets = None) -> dict:
    """Stop ``name`` gracefully; stopping a stopped service is a no-op that says so."""
    service = target.service(name)
    if target.platform == "kubernetes":
        return kubeservices.stop(service, target, timeout_s, secrets)
    info = _settled(target, service, timeout_s)
    if info["statename"] in STOPPED_STATES:
        return {
            **_facts(service, info),
            "changed": False,
            "note": f"already {info['statename']}: nothing to stop",
        }
    entry_id = ledger_for(target).record(
        "service",
        name,
        {"action": "start", "platform": "supervisor"},
        note=f"stopped program {service.program} through supervisor",
    )
    began = time.monotonic()
    try:
        _call(target, service, "stopProcess", service.program, False)
    except ServiceError:
        if _info(target, service)["statename"] not in STOPPED_STATES:
            raise
    after = _wait(target, service, lambda i: i["statename"] in STOPPED_STATES, timeout_s, "stop")
    return {
        **_facts(service, after),
        "changed": True,
        "seconds": round(time.monotonic() - began, 3),
        "ledger_id": entry_id,
    }


def start(name: str, target: Target, timeout_s: float = 60.0, secrets: Secrets = None) -> dict:
    """Start ``name`` and wait until it runs; resolve its open ledger entries."""
    service = target.service(name)
    if target.platform == "kubernetes":
        result = kubeservices.start(service, target, timeout_s, secrets)
    else:
        result = _supervisor_start(service, target, timeout_s)
    ledger = ledger_for(target)
    resolved = []
    for entry in ledger.entries():
        if entry["kind"] == "service" and entry["subject"] == name:
            ledger.resolve(entry["id"])
            resolved.append(entry["id"])
    return {**result, "resolved": resolved}


def kill_one_pod(
    name: str, target: Target, timeout_s: float = 120.0, secrets: Secrets = None
) -> dict:
    """Kill one instance of several (Kubernetes: one pod; its controller recreates it)."""
    service = target.service(name)
    if target.platform != "kubernetes":
        raise ServiceError(
            f"cannot kill one instance of service {name!r}: the {target.platform} platform runs "
            "one process per service; one pod of several needs the kubernetes platform"
        )
    return kubeservices.kill_one_pod(service, target, timeout_s, secrets)


def restart(name: str, target: Target, timeout_s: float = 60.0, secrets: Secrets = None) -> dict:
    """Stop then start ``name`` (the stop is recorded; the start resolves it)."""
    stopped = stop(name, target, timeout_s, secrets)
    started = start(name, target, timeout_s, secrets)
    return {"service": name, "stopped": stopped, "started": started}


def revert(entry: dict, target: Target) -> dict:
    """Revert a "service" ledger entry: start the service (idempotent)."""
    action = entry.get("revert", {}).get("action")
    if action != "start":
        raise ServiceError(
            f"ledger entry {entry.get('id')} for service {entry.get('subject')!r} asks for "
            f"revert action {action!r}; only 'start' is known"
        )
    platform = entry["revert"].get("platform", target.platform)
    if platform != target.platform:
        target = dataclasses.replace(target, platform=platform)
    return start(entry["subject"], target)


# --- supervisor -----------------------------------------------------------------------------


def _supervisor_start(service: Service, target: Target, timeout_s: float) -> dict:
    info = _settled(target, service, timeout_s)
    if info["statename"] == "RUNNING":
        continued = procs.thaw(procs.stopped_under(info["pid"]))
        if continued:
            note = f"running, but pids {continued} were stopped (state T): continued them"
            return {**_facts(service, info), "changed": True, "note": note}
        return {**_facts(service, info), "changed": False, "note": "already running"}
    began = time.monotonic()
    if info["statename"] not in ("STARTING", "BACKOFF"):
        try:
            _call(target, service, "startProcess", service.program, False)
        except ServiceError:
            if _info(target, service)["statename"] not in ("STARTING", "RUNNING"):
                raise
    after = _wait(target, service, lambda i: i["statename"] == "RUNNING", timeout_s, "run")
    return {
        **_facts(service, after),
        "changed": True,
        "seconds": round(time.monotonic() - began, 3),
    }


def _call(target: Target, service: Service, method: str, *args: Any) -> Any:
    try:
        return getattr(supervisor_rpc.proxy(target.supervisor_url), method)(*args)
    except xmlrpc.client.Fault as exc:
        if exc.faultCode == supervisor_rpc.BAD_NAME:
            raise ServiceError(
                f"supervisor at {target.supervisor_url} has no program {service.program!r} "
                f"(service {service.name!r}): fix its `program` in the target file"
            ) from None
        raise ServiceError(
            f"supervisor refused {method} of program {service.program!r} "
            f"(service {service.name!r}): {exc.faultString}"
        ) from None
    except OSError as exc:
        raise ServiceError(
            f"cannot reach supervisor at {target.supervisor_url} ({exc}) to control service "
            f"{service.name!r}: is supervisord running?"
        ) from None


def _settled(target: Target, service: Service, timeout_s: float) -> dict[str, Any]:
    """The program's state once it is not STOPPING (a stop cut short by a signal, which a
    revert then finds half-way: supervisor refuses to stop or start it meanwhile)."""
    info = _info(target, service)
    if info["statename"] == "STOPPING":
        info = _wait(target, service, lambda i: i["statename"] != "STOPPING", timeout_s, "stop")
    return info


def _info(target: Target, service: Service) -> dict[str, Any]:
    return _call(target, service, "getProcessInfo", service.program)


def _facts(service: Service, info: dict[str, Any]) -> dict[str, Any]:
    running = info["statename"] == "RUNNING"
    return {
        "service": service.name,
        "program": service.program,
        "platform": "supervisor",
        "state": info["statename"],
        "running": running,
        "pid": info["pid"] or None,
        "uptime": (info["now"] - info["start"]) if running else 0,
    }


def _process_group(target: Target, service: Service, pid: int) -> int:
    """The program's own process group; refuse to signal ours or supervisord's."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        raise ServiceError(
            f"service {service.name!r}: pid {pid} reported by supervisor no longer exists"
        ) from None
    supervisord_pid = _call(target, service, "getPID")
    shared = {os.getpgrp(), os.getpgid(supervisord_pid)}
    if pgid in shared:
        raise ServiceError(
            f"service {service.name!r}: pid {pid} shares process group {pgid} with supervisord "
            "or this runner; refusing to kill the group"
        )
    return pgid


def _kill_tree(service: Service, pid: int, pgid: int) -> list[procs.Proc]:
    """SIGKILL the program's process group and every descendant.

    Some programs (PostgreSQL) put their children in groups of their own, so the
    group alone is not enough. The group is stopped first so nothing forks meanwhile;
    no signal may leave it stopped (a SIGKILL of this runner can: ``start`` continues it).
    """
    with interrupts.deferred():
        try:
            os.killpg(pgid, signal.SIGSTOP)
            tree = [p for p in [procs.read(pid), *procs.descendants(pid)] if p is not None]
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            tree = []  # it died meanwhile; the wait confirms supervisor saw it go
        except PermissionError:
            raise ServiceError(
                f"not allowed to kill process group {pgid} of service {service.name!r}: run as "
                "root (or as the user that runs the program)"
            ) from None
        for process in tree:
            try:
                procs.send(process, signal.SIGKILL)
            except PermissionError:
                raise ServiceError(
                    f"not allowed to kill pid {process.pid} of service {service.name!r}: "
                    "run as root"
                ) from None
    return tree


def _wait_gone(service: Service, processes: list[procs.Proc], deadline: float) -> None:
    """Wait until every killed process is gone (or a zombie nobody reaped yet)."""
    while True:
        alive = []
        for process in processes:
            now = procs.read(process.pid)
            if now and now.start_ticks == process.start_ticks and now.state != "Z":
                alive.append(process.pid)
        if not alive:
            return
        if time.monotonic() >= deadline:
            raise ServiceError(f"service {service.name!r}: pids {alive} survived SIGKILL")
        time.sleep(POLL_S / 2)


def _wait(
    target: Target, service: Service, done: Callable[[dict], bool], timeout_s: float, what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        info = _info(target, service)
        if done(info):
            return info
        if what == "run" and info["statename"] in ("FATAL", "EXITED", "STOPPED"):
            raise ServiceError(
                f"service {service.name!r} (program {service.program!r}) failed to start: "
                f"{info['statename']} {info['spawnerr']}; see {info['stdout_logfile']}"
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"service {service.name!r} (program {service.program!r}) did not {what} "
                f"within {timeout_s:g} s: supervisor reports {info['statename']}"
            )
        time.sleep(POLL_S)
