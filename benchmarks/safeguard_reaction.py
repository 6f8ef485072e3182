"""Time from a breached safeguard to the first rollback action.

Runs a small experiment (kill Redis, then hold the fault) N times against the
lab; while the fault is held, the benchmark sets the kill switch (the breach)
and reads from the journal when the first rollback action started. Prints
each trial, the median and the worst. Target: at most 4 s.

    .venv/bin/python benchmarks/safeguard_reaction.py [--trials 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameday import ledger  # noqa: E402
from gameday.target import load_target  # noqa: E402
from tests.chaosrun import (  # noqa: E402
    KILL_SWITCH_GUARD,
    experiment,
    hold,
    journal,
    kill,
    launch,
    start,
    wait_for,
)


def trial(workdir: Path) -> float:
    target = load_target()
    process = launch(
        experiment([kill("redis"), hold(60)], [start("redis")], safeguards=[KILL_SWITCH_GUARD]),
        workdir,
    )
    try:
        wait_for(lambda: ledger.ledger_for(target).entries(), what="the fault")
        time.sleep(1)
        breached = time.time()
        target.kill_switch.write_text("benchmark\n")
        process.wait(timeout=120)
    finally:
        target.kill_switch.unlink(missing_ok=True)
    first = journal(workdir)["rollbacks"][0]["start"]
    started = datetime.fromisoformat(first)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return started.timestamp() - breached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    delays = []
    for index in range(args.trials):
        with tempfile.TemporaryDirectory() as workdir:
            delay = trial(Path(workdir))
        delays.append(delay)
        print(f"trial {index + 1}: breach -> first rollback {delay:.2f} s", flush=True)
    print(
        f"median {statistics.median(delays):.2f} s, worst {max(delays):.2f} s "
        f"over {len(delays)} trials (target <= 4 s)"
    )


if __name__ == "__main__":
    main()
