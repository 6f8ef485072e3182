"""The capacity search against a fine step test and against a known limit (prints figures).

On a café whose capacity is known by construction (tests/known_limit.py: 25 database
connections, each answer held 100 ms by a fault-proxy latency toxic: at most 250 orders/s):

1. the search (``gameday.capsearch``) with the P99 threshold at ``--slo-ms`` (1000 ms, well
   above the 100 ms an order holds a connection, so the knee is the limit itself), its
   capacity against the known limit;
2. a fine step test of the same café: the same steps (same length, warm-up, judge) from the
   search's start rate up in steps of 2.5 % of the knee, to the first degraded step, as a
   step test without a search would have to; its capacity and its time against the search's;
3. the search again with the plan's 200 ms threshold: random arrivals queue past 200 ms
   before the limit, so this knee is lower (the capacity for that threshold).

Run it alone, under the lab lock (about 25 minutes):

    flock /tmp/coffee-lab.lock .venv/bin/python benchmarks/capacity_accuracy.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from known_limit import known_limit_cafe  # noqa: E402
from target_files import write_target  # noqa: E402

from gameday import capsearch  # noqa: E402
from gameday.capacityfile import format_record  # noqa: E402
from gameday.searchload import SearchLoad  # noqa: E402
from gameday.target import load_target  # noqa: E402

CUSTOMERS = {"CoffeeConsumer": 10, "RushHourCustomer": 5, "DowntownRegular": 3}


def searched(target, plan: capsearch.SearchPlan) -> tuple[dict, float]:
    """The search's record and how long it took (s)."""
    load = SearchLoad(target, plan, CUSTOMERS, 0, 3600)
    began = time.monotonic()
    load.start(plan.offered(plan.start_rate))
    try:
        record = capsearch.search(plan, load.step, load.more_workers)
    finally:
        load.stop()
    return record, time.monotonic() - began


def fine_test(target, plan: capsearch.SearchPlan, knee: float) -> tuple[dict, float, list]:
    """Steps of 2.5 % of ``knee`` from the start rate to the first degraded one: the last good
    step, the time, every step."""
    load = SearchLoad(target, plan, CUSTOMERS, 0, 3600)
    began, rows, good = time.monotonic(), [], None
    rate = plan.offered(plan.start_rate)
    load.start(rate)
    try:
        while rate <= 2 * knee:
            row = load.step(rate, "fine")
            row["verdict"], row["reason"] = capsearch.judge(row, plan)
            rows.append(row)
            if row["verdict"] != "good":
                break
            good, rate = row, plan.offered(rate + 0.025 * knee)
    finally:
        load.stop()
    return good or {}, time.monotonic() - began, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slo-ms", type=float, default=1000)
    parser.add_argument("--step-s", type=int, default=20)
    parser.add_argument("--settle-s", type=int, default=5)
    parser.add_argument("--start-rate", type=float, default=25)
    args = parser.parse_args()
    settings = {"step_s": args.step_s, "settle_s": args.settle_s, "start_rate": args.start_rate}
    plan = capsearch.SearchPlan(**settings, p99_ms=args.slo_ms, min_requests=1000)
    slo_plan = capsearch.SearchPlan(**settings, p99_ms=200, min_requests=1000)
    work = Path(tempfile.mkdtemp(prefix="capacity-accuracy-"))
    with known_limit_cafe(work) as cafe:
        target_of = {}
        for part in ("search", "fine", "slo"):
            (work / part).mkdir()
            config = write_target(work / part, api_url=cafe.url)
            target_of[part] = load_target({**config, "run_dir": str(work / part / "run")})
        record, search_s = searched(target_of["search"], plan)
        print(format_record(record), flush=True)
        knee = record["orders_per_s"] or cafe.orders_per_s  # the search may have found none
        fine, fine_s, rows = fine_test(target_of["fine"], plan, knee)
        slo, slo_s = searched(target_of["slo"], slo_plan)
        print(format_record(slo), flush=True)
    _report(cafe.orders_per_s, record, search_s, fine, fine_s, rows, slo, args.slo_ms)
    (work / "figures.json").write_text(json.dumps({"search": record, "fine": rows, "slo": slo}))
    print(f"evidence: {work}")
    return 0


def _report(known, record, search_s, fine, fine_s, rows, slo, slo_ms) -> None:
    found = record["orders_per_s"]
    print(f"\nknown limit (pool / delay): {known:.1f} orders/s")
    if found is None:
        print(f"the search found no capacity: {record['summary']}")
        return
    print(
        f"search (P99 <= {slo_ms:g} ms): {found} orders/s in {search_s:.0f} s, "
        f"{len(record['steps'])} steps; interval {record['interval_orders_per_s']}; "
        f"error against the known limit {found / known - 1:+.1%}"
    )
    print(
        f"fine step test (2.5 % steps): {fine.get('served_per_s')} orders/s in {fine_s:.0f} s, "
        f"{len(rows)} steps; first degraded at {rows[-1]['offered_per_s']} "
        f"({rows[-1]['reason']})"
    )
    if fine.get("served_per_s"):
        ratio = found / fine["served_per_s"]
        print(
            f"search / fine: capacity {ratio:.3f}x (target 0.9-1.1: {_met(abs(ratio - 1) <= 0.1)})"
        )
    ratio = search_s / fine_s
    print(f"search / fine: time {ratio:.2f}x (target: at most 1/3: {_met(ratio <= 1 / 3)})")
    ratio = found / known
    print(f"search / known limit: {ratio:.3f}x (target 0.9-1.1: {_met(abs(ratio - 1) <= 0.1)})")
    print(
        f"search with P99 <= 200 ms: {slo['orders_per_s']} orders/s "
        f"({(slo['orders_per_s'] or 0) / known:.0%} of the limit): {slo['summary']}"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
