#!/usr/bin/python3
"""Print, as JSON, when each supervisor program's process started (epoch seconds).

    program_starts.py SUPERVISOR_CONFIG PROGRAM [PROGRAM ...]

{"now": 1767000000.12, "programs": [{"name": "api", "pid": 1234, "started_at": 1766999990.5}]};
a program that does not run has pid 0 and started_at 0. The start time comes from
/proc (clock ticks since boot) and /proc/uptime, to within a hundredth of a second:
supervisor's own `start` is rounded down to the second. Run by the cafe role (stdlib only).
"""

import json
import os
import subprocess
import sys
import time


def started_at(pid: int) -> float:
    """The process's start time, or 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        now = time.time()
    except (OSError, IndexError, ValueError):
        return 0.0
    ticks = int(fields[19])  # field 22, starttime, counted after "pid (comm)"
    return round(now - uptime + ticks / os.sysconf("SC_CLK_TCK"), 3)


def main(config: str, programs: list[str]) -> None:
    report = []
    for program in programs:
        done = subprocess.run(
            ["supervisorctl", "-c", config, "pid", program],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        text = done.stdout.strip()
        if not text.isdigit():
            sys.exit(f"supervisor does not know the program {program}: {text}")
        pid = int(text)
        report.append({"name": program, "pid": pid, "started_at": started_at(pid) if pid else 0.0})
    print(json.dumps({"now": round(time.time(), 3), "programs": report}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
