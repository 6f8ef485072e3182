"""Processes as /proc shows them (standard library only, Linux).

What recovery needs to signal a process safely: who a pid is (its start time
since boot, and the boot), its state (``T``: stopped), its children and its
process group, and its environment. A pid alone names nobody: after a reboot or
a pid wrap it may be PostgreSQL, so every kill checks the identity recorded
with the pid first.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Proc",
    "boot_id",
    "descendants",
    "environ",
    "group",
    "identity",
    "is_same",
    "read",
    "same",
    "send",
    "stopped_under",
    "table",
    "thaw",
]

PROC = Path("/proc")
LEGACY_TOLERANCE_S = 0.01


@dataclass(frozen=True)
class Proc:
    """One process: its pid, state letter (R, S, D, T, Z...), parent, group and start time
    (clock ticks after boot: with the boot id, it tells this process from a later one)."""

    pid: int
    state: str
    ppid: int
    pgid: int
    start_ticks: int
    command: str


def read(pid: int) -> Proc | None:
    """The process ``pid``, or None when there is none."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    command, _, rest = stat[stat.index("(") + 1 :].rpartition(")")
    fields = rest.split()
    # fields[0] is stat's 3rd field (state); the start time is its 22nd
    return Proc(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]), command)


def table() -> list[Proc]:
    """Every process now."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            process = read(int(entry.name))
            if process is not None:
                found.append(process)
    return found


def boot_id() -> str:
    """This boot's id: a start time means nothing across a reboot."""
    return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()


def identity(pid: int) -> dict[str, int | str] | None:
    """What to record with a pid so that a later kill can check it is the same process."""
    process = read(pid)
    if process is None:
        return None
    return {"pid": pid, "start_ticks": process.start_ticks, "boot_id": boot_id()}


def same(recorded: dict) -> Proc | None:
    """The process ``recorded`` by ``identity`` if it still runs (same boot, same start).

    An entry recorded before identities holds ``started`` instead: psutil's create time,
    the boot time (``btime``) plus the start ticks, in seconds since the epoch; it is
    checked as psutil checked it (to 10 ms), and cannot match a process of a later boot.
    """
    pid = recorded.get("pid")
    process = read(int(pid)) if pid else None
    if process is None or process.state == "Z":
        return None
    if "start_ticks" not in recorded and isinstance(recorded.get("started"), int | float):
        started = _boot_time() + process.start_ticks / os.sysconf("SC_CLK_TCK")
        return process if abs(started - recorded["started"]) <= LEGACY_TOLERANCE_S else None
    if recorded.get("boot_id") == boot_id() and recorded.get("start_ticks") == process.start_ticks:
        return process
    return None


def is_same(recorded: dict) -> bool:
    """Whether the process ``recorded`` by ``identity`` still runs (same boot, same start)."""
    return same(recorded) is not None


def _boot_time() -> float:
    """When this boot began, in seconds since the epoch (``btime`` of /proc/stat)."""
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime line in /proc/stat")


def descendants(pid: int, processes: list[Proc] | None = None) -> list[Proc]:
    """Every child of ``pid``, their children, and so on."""
    processes = table() if processes is None else processes
    children: dict[int, list[Proc]] = {}
    for process in processes:
        children.setdefault(process.ppid, []).append(process)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def group(pgid: int) -> list[Proc]:
    """The live (non-zombie) members of process group ``pgid``."""
    return [p for p in table() if p.pgid == pgid and p.state != "Z"]


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` started with (empty when it is gone or not ours to read)."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def stopped_under(pid: int) -> list[Proc]:
    """The processes in state T (stopped) among ``pid``, its group and its descendants."""
    processes = table()
    leader = [p for p in processes if p.pid == pid]
    members = [p for p in processes if p.pgid == pid]
    tree = {p.pid: p for p in leader + members + descendants(pid, processes)}
    return [p for p in tree.values() if p.state == "T"]


def thaw(processes: list[Proc]) -> list[int]:
    """SIGCONT ``processes`` (each still the same process); the pids continued."""
    return [p.pid for p in processes if send(p, signal.SIGCONT)]


def send(process: Proc, signum: int) -> bool:
    """Signal ``process`` if that pid is still the process listed; whether it was sent."""
    now = read(process.pid)
    if now is None or now.start_ticks != process.start_ticks:
        return False
    try:
        os.kill(process.pid, signum)
    except ProcessLookupError:
        return False
    return True
