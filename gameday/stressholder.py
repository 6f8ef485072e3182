"""The stressor's holder (``python -m gameday.stressholder``), started by ``gameday.stress``.

Reads its orders (``argv``: stress-ng's command line; ``nice``) as one JSON line on stdin
once the ledger records it, checks them with ``stress-ng --dry-run``, makes itself the first
the kernel's OOM killer takes (``oom_score_adj`` 1000, inherited by stress-ng's workers),
takes the priority ``nice`` (its own, and its autogroup's where the kernel groups tasks by
session: a session of its own is one scheduling group, whatever its number of workers),
prints ``ready <pid>`` and becomes stress-ng (``exec``: the same pid, start time and process group,
so the recorded identity is stress-ng's). A holder whose starter dies before it sends the
orders reads an empty line and exits having done nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

OOM_SCORE_ADJ = Path("/proc/self/oom_score_adj")
AUTOGROUP = Path("/proc/self/autogroup")


def main() -> int:
    line = sys.stdin.readline()
    if not line.strip():
        return 1  # no orders: the starter is gone
    orders = json.loads(line)
    argv, nice = [str(word) for word in orders["argv"]], int(orders.get("nice", 0))
    path = shutil.which(argv[0])
    if path is None:
        print(f"{argv[0]} is not installed: run `make lab` (Debian package)", file=sys.stderr)
        return 1
    checked = subprocess.run([path, *argv[1:], "--dry-run"], capture_output=True, text=True)
    if checked.returncode != 0:
        why = (checked.stderr or checked.stdout).strip().splitlines()
        print(
            f"{argv[0]} refused its options: {why[-1] if why else checked.returncode}",
            file=sys.stderr,
        )
        return 1
    OOM_SCORE_ADJ.write_text("1000")
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    if AUTOGROUP.exists():
        AUTOGROUP.write_text(str(nice))
    print(f"ready {os.getpid()}", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.execv(path, argv)
    return 1  # not reached: execv replaced this process


if __name__ == "__main__":
    sys.exit(main())
