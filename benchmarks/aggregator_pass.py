"""Time one aggregator pass over 1,000,000 orders (target: <= 1 s).

Seeds a scratch schema with COPY (orders spread over the last 30 days), builds the same
table and indexes as ``refcafe.migrate``, runs the pass's queries several times, prints
the durations and the plan of the costly 30-day top five, then drops the scratch schema.

    .venv/bin/python benchmarks/aggregator_pass.py [--rows N] [--runs N] [--dsn DSN]

The DSN defaults to ``postgres_dsn`` in /etc/coffee-chaos/secrets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cafe"))

from refcafe.aggregation import compute, queries  # noqa: E402
from refcafe.migrate import migrate  # noqa: E402

DRINKS = ("cappuccino", "americano", "latte")
STORES = ("uptown", "downtown", "central", "southend")


def seed(conn: psycopg.Connection, schema: str, rows: int) -> float:
    """COPY ``rows`` orders into ``schema.orders``; returns the seconds it took."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    span = int(timedelta(days=30).total_seconds())
    rng = random.Random(42)
    target = sql.SQL("COPY {} (drink, store, price, timestamp) FROM STDIN").format(
        sql.Identifier(schema, "orders")
    )
    with conn.cursor() as cursor, cursor.copy(target) as copy:
        for _ in range(rows):
            copy.write_row(
                (
                    rng.choice(DRINKS),
                    rng.choice(STORES),
                    Decimal(rng.randrange(300, 650)) / 100,
                    now - timedelta(seconds=rng.randrange(span)),
                )
            )
    return time.perf_counter() - started


def time_passes(conn: psycopg.Connection, schema: str, runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        compute(conn, schema)
        durations.append(time.perf_counter() - started)
    return durations


def report(label: str, durations: list[float]) -> None:
    print(
        f"{label}: pass over the scratch table: min {min(durations) * 1000:.0f} ms, "
        f"median {statistics.median(durations) * 1000:.0f} ms, "
        f"max {max(durations) * 1000:.0f} ms ({len(durations)} runs)"
    )


def explain_top5(conn: psycopg.Connection, schema: str) -> str:
    _, top5, _ = queries(schema)
    params = {"month_start": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)}
    plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + top5, params).fetchall()
    return "\n".join(f"    {line}" for (line,) in plan)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dsn", default=None)
    args = parser.parse_args()
    dsn = args.dsn or json.loads(Path("/etc/coffee-chaos/secrets.json").read_text())["postgres_dsn"]
    schema = f"coffee_bench_{os.getpid()}"
    with psycopg.connect(dsn) as conn:
        conn.autocommit = True
        try:
            migrate(conn, schema)
            seconds = seed(conn, schema, args.rows)
            print(f"seeded {args.rows} orders with COPY in {seconds:.1f} s")
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, "orders")))
            report(
                "after ANALYZE (visibility map not yet set)", time_passes(conn, schema, args.runs)
            )
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, "orders")))
            durations = time_passes(conn, schema, args.runs)
            report("after VACUUM (as autovacuum leaves it)", durations)
            print("plan of the 30-day top five:")
            print(explain_top5(conn, schema))
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    verdict = "met" if statistics.median(durations) <= 1.0 else "NOT met"
    print(f"target (<= 1 s per pass over {args.rows} orders): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
