"""The reference café's capacity, the load generator's share of the CPU at the knee, and
wrk's ceiling beside it (prints figures).

Runs ``experiments/capacity-search.json`` with its full defaults (``chaos run``) against the
lab's café, no toxic, with a copy of the lab's target file whose state directory is a
temporary one (the lab's saved capacity stays as it was), then ``benchmarks/cafe_throughput.sh``
(wrk, 2 threads, 50 connections, 30 s). At the knee (the step that ended the search: the first
degraded one above the capacity, or the one where the generator was the limit) it prints the
Locust processes' CPU in cores and as a share of the machine, and the machine's busy cores.

Run it alone, under the lab lock (10-20 minutes); arguments are passed to ``chaos run``:

    flock /tmp/coffee-lab.lock .venv/bin/python benchmarks/capacity_reference.py
    flock /tmp/coffee-lab.lock .venv/bin/python benchmarks/capacity_reference.py \
        --var load_workers:int=2
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from target_files import write_target  # noqa: E402

from gameday.capacityfile import format_record  # noqa: E402

CHAOS = str(Path(sys.executable).parent / "chaos")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="capacity-reference-"))
    target = write_target(work)["target_file"]
    env = {**os.environ, "COFFEE_CHAOS_TARGET": target, "COFFEE_CHAOS_RUN_DIR": str(work / "run")}
    journal_path = work / "journal.json"
    command = [CHAOS, "--log-file", str(work / "chaostoolkit.log"), "run"]
    command += [*sys.argv[1:], "--journal-path", str(journal_path)]
    command.append("experiments/capacity-search.json")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    journal = json.loads(journal_path.read_text())
    runs = {run["activity"]["name"]: run for run in journal["run"]}
    record = runs["search-capacity"]["output"]
    print(format_record(record))
    print(f"chaos run exit {done.returncode}, status {journal['status']}; evidence in {work}")
    _knee(record)
    wrk = subprocess.run(
        [str(REPO / "benchmarks" / "cafe_throughput.sh")], capture_output=True, text=True
    )
    print("wrk, the ceiling:\n" + wrk.stdout + wrk.stderr)
    return 0


def _knee(record: dict) -> None:
    """The generator's figures at the step that ended the search, and at the last good one."""
    decisive = [row for row in record["steps"] if row["verdict"] != "good"]
    good = [row for row in record["steps"] if row["verdict"] == "good"]
    for label, row in (("knee", decisive[-1] if decisive else None), ("last good", _top(good))):
        if row is None:
            continue
        figures = row["generator"]
        share = figures["locust_cpu_cores"] / figures["cpus"]
        print(
            f"{label}: {row['offered_per_s']} orders/s offered, {row['served_per_s']} served, "
            f"P99 {row['p99_ms']} ms ({row['verdict']}); Locust {figures['locust_cpu_cores']} "
            f"cores = {share:.0%} of the {figures['cpus']} CPUs (busiest process "
            f"{figures['cpu_cores_max']}), machine busy {figures['machine_busy_cores']} cores, "
            f"loop lag P90 {figures['loop_lag_ms_p90']} ms, {figures['workers']} worker(s)"
        )


def _top(rows: list[dict]) -> dict | None:
    return max(rows, key=lambda row: row["offered_per_s"], default=None)


if __name__ == "__main__":
    sys.exit(main())
