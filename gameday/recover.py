"""Recovery that needs nothing but the machine's python3: ``python3 -m gameday.recover``.

After a crash, a SIGKILL or a reboot, in this order:

1. take the machine's run lock: while a run holds it, refuse naming its pid
   (``--force`` reverts its faults under it);
2. bring supervisord up (``systemctl start supervisor`` on a host run by
   systemd, else ``supervisord`` itself) and start every program it manages:
   reverting a seed needs PostgreSQL, a toxic the fault proxy;
3. continue every process of a program left stopped (state T) by a kill cut short;
4. revert every ledger of the machine (``gameday.registry``): an unreadable file
   is put aside in ``corrupt/`` and named, the other entries are reverted;
   the fault series are rewritten (no run survives a recover);
5. wait until the target answers ``/readyz`` with 200.

Exit status 0 when nothing is left, 1 when something is (each named), 2 when
refused. ``gameday recover`` and ``make recover`` run this same code; it imports
only the standard library and ``gameday``'s standard-library modules.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from pathlib import Path
from typing import Any

from gameday import faultmetrics, ledger, procs, registry, supervisor_rpc
from gameday.target import TARGET_ENV, Target, TargetError, load_target

__all__ = ["main", "recover"]

SUPERVISOR_CONFIG = "/etc/supervisor/supervisord.conf"
SYSTEMD_RUNNING = Path("/run/systemd/system")
UP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 60.0
REVERT_ATTEMPTS = 3
RETRY_PAUSE_S = 2.0


def main(argv: list[str] | None = None) -> int:
    """`python3 -m gameday.recover [--force] [--target FILE]`: recover, print, exit status."""
    parser = argparse.ArgumentParser(prog="python3 -m gameday.recover", description=__doc__)
    parser.add_argument("--force", action="store_true", help="recover even under a live run")
    parser.add_argument("--target", help=f"target file (default: ${TARGET_ENV} or the lab's)")
    parser.add_argument("--supervisor-config", default=SUPERVISOR_CONFIG)
    args = parser.parse_args(argv)
    try:
        target = load_target({"target_file": args.target} if args.target else None)
    except TargetError as exc:
        print(f"recover: {exc}", file=sys.stderr)
        return 2
    lock, holder = registry.take_lock("recover")
    if lock is None and not args.force:
        print(
            f"recover: refusing: an experiment holds the lab ({holder}); its safety control "
            "reverts its faults when it ends. Stop it (kill -TERM <pid>), or revert under it "
            "with `make recover FORCE=1` (`gameday recover --force`)",
            file=sys.stderr,
        )
        return 2
    if lock is None:
        print(f"recover: forced while an experiment holds the lab ({holder})")
    problems = recover(target, args.supervisor_config)
    for problem in problems:
        print(f"NOT RECOVERED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def recover(target: Target, supervisor_config: str = SUPERVISOR_CONFIG) -> list[str]:
    """Bring the lab up, continue stopped processes, revert every ledger, wait until ready;
    print what was done and return what could not be."""
    problems: list[str] = []
    if target.platform == "supervisor":
        problems += _bring_up(target, supervisor_config)
    reverted = 0
    for book_target in _ledger_targets(target, problems):
        reverted += _revert(book_target, problems)
    faultmetrics.end_run(ledger.ledger_for(target))  # no run survives a recover
    if not reverted:
        print("Nothing to recover: the fault ledger is empty.")
    if not _ready(target):
        problems.append(f"{target.api_url}/readyz did not answer 200 within {READY_TIMEOUT_S:g} s")
    return problems


def _revert(target: Target, problems: list[str]) -> int:
    """Revert ``target``'s ledger, trying again while a program just started may not answer
    yet (the fault proxy, PostgreSQL); how many faults were reverted."""
    reverted = 0
    for attempt in range(1, REVERT_ATTEMPTS + 1):
        done, failed = ledger.recover_report(target)
        for entry in done:
            print(f"reverted {entry['kind']} {entry['subject']}: {entry.get('result', 'ok')}")
        reverted += len(done)
        if not ledger.ledger_for(target).entries() or attempt == REVERT_ATTEMPTS:
            break
        time.sleep(RETRY_PAUSE_S)
    problems += failed
    if not failed:
        registry.forget(target.ledger_dir)
    return reverted


def _bring_up(target: Target, supervisor_config: str) -> list[str]:
    """supervisord running, every program RUNNING, no process of theirs stopped."""
    rpc = supervisor_rpc.proxy(target.supervisor_url)
    try:
        rpc.getPID()
    except OSError:
        problem = _start_supervisord(rpc, target.supervisor_url, supervisor_config)
        if problem:
            return [problem]
    try:
        return _start_programs(rpc)
    except (OSError, xmlrpc.client.Error) as exc:
        return [f"supervisor at {target.supervisor_url} failed while starting programs: {exc}"]


def _start_programs(rpc: Any) -> list[str]:
    """Start every program that is not running, wait until each runs, then continue any of
    their processes left stopped; what could not be done."""
    for info in rpc.getAllProcessInfo():
        if info["statename"] not in ("RUNNING", "STARTING", "BACKOFF"):
            print(f"starting {info['name']} ({info['statename']})")
            try:
                rpc.startProcess(f"{info['group']}:{info['name']}", False)
            except xmlrpc.client.Fault as exc:
                print(f"  supervisor: {exc.faultString}")
    deadline = time.monotonic() + UP_TIMEOUT_S
    while True:
        infos = rpc.getAllProcessInfo()
        pending = [i for i in infos if i["statename"] in ("STARTING", "BACKOFF")]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for info in infos:
        continued = procs.thaw(procs.stopped_under(info["pid"])) if info["pid"] else []
        if continued:
            print(f"continued {info['name']}'s stopped pids {continued}")
    return [
        f"program {i['name']} is {i['statename']}, not RUNNING: see {i['stdout_logfile']}"
        for i in infos
        if i["statename"] != "RUNNING"
    ]


def _start_supervisord(rpc: Any, url: str, config: str) -> str:
    """Start supervisord as this host starts it; a problem, or "" once it answers."""
    command = (
        ["systemctl", "start", "supervisor"]
        if SYSTEMD_RUNNING.is_dir()
        else ["supervisord", "-c", config]
    )
    print(f"supervisord does not answer at {url}: {' '.join(command)}")
    try:
        subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run {' '.join(command)}: {exc}"
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            rpc.getPID()
            return ""
        except OSError:
            time.sleep(0.5)
    return f"supervisord did not answer at {url} within {UP_TIMEOUT_S:g} s after {command[0]}"


def _ledger_targets(target: Target, problems: list[str]) -> list[Target]:
    """The target of every ledger of the machine: ``target``'s, then the registry's."""
    found = {target.ledger_dir.resolve(): target}
    for directory, target_file in registry.ledgers():
        if directory.resolve() in found:
            continue
        book = ledger.Ledger(directory)
        if not book.entries() and not book.unreadable() and not book.quarantined():
            registry.forget(directory)
            continue
        try:
            owner = load_target({"target_file": str(target_file)} if target_file else None)
        except TargetError as exc:
            problems.append(f"the ledger {directory} holds faults but its target is lost: {exc}")
            continue
        found[directory.resolve()] = dataclasses.replace(owner, state_dir=directory.parent)
    return list(found.values())


def _ready(target: Target) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with opener.open(f"{target.api_url}/readyz", timeout=3) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
