"""Seeding speed: gameday.seed against `psql \\copy` of the same rows (targets: 1,000,000 rows
in at most 5 s, and at least 0.8x the speed of psql).

Builds a scratch copy of the café's table (same columns and index, ``refcafe.migrate``),
then alternates: psql \\copy of a file holding the rows (psql's own startup included), and
``gameday.seed.seed`` (generation of the rows included), emptying the table between runs.
Drops the scratch schema at the end; the lab's orders table is not touched.

    .venv/bin/python benchmarks/seed_copy.py [--rows N] [--runs N]

Credentials come from the lab's secrets file; psql gets them through PG* variables,
never on its command line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cafe"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refcafe.migrate import migrate  # noqa: E402

from gameday import seed  # noqa: E402
from gameday.postgres import dsn_for  # noqa: E402
from gameday.target import load_target  # noqa: E402


def psql_copy(dsn: str, schema: str, path: Path) -> float:
    """Seconds `psql \\copy` takes to load ``path`` into ``schema.orders``."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    env = {**os.environ}
    for key, variable in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
        ("dbname", "PGDATABASE"),
    ):
        if params.get(key):
            env[variable] = str(params[key])
    columns = ", ".join(seed.COLUMNS)
    command = f"\\copy {schema}.orders ({columns}) FROM '{path}'"
    started = time.perf_counter()
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-c", command], env=env, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    target = load_target()
    dsn = dsn_for(target)
    schema = f"coffee_bench_seed_{os.getpid()}"
    name = f"bench-{os.getpid()}"
    psql_s, seed_s = [], []
    with psycopg.connect(dsn, autocommit=True) as conn, tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "orders.tsv"
        os.chmod(tmp, 0o755)
        try:
            migrate(conn, schema)
            # A fresh sequence hands out 1 first, so the seed's block starts at 2: same ids.
            with open(rows_file, "w", encoding="utf-8") as handle:
                handle.writelines(seed.copy_chunks(2, args.rows))
            os.chmod(rows_file, 0o644)
            empty = sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier(schema, "orders"))
            for _ in range(args.runs):
                psql_s.append(psql_copy(dsn, schema, rows_file))
                conn.execute(empty)
                began = time.perf_counter()
                seed.seed(target, rows=args.rows, name=name, schema=schema, analyze=False)
                seed_s.append(time.perf_counter() - began)
                seed.remove(target, name, vacuum=False)
                conn.execute(empty)
        finally:
            seed.remove(target, name, vacuum=False)
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    psql_median, seed_median = statistics.median(psql_s), statistics.median(seed_s)
    speed = psql_median / seed_median
    print(f"rows: {args.rows:,} ({args.runs} runs each, medians)")
    print(
        f"psql \\copy of a ready file: {psql_median:.2f} s ({args.rows / psql_median:,.0f} rows/s)"
    )
    print(
        f"gameday.seed (generation included): {seed_median:.2f} s "
        f"({args.rows / seed_median:,.0f} rows/s)"
    )
    print(f"seed speed / psql speed: {speed:.2f}x")
    within = seed_median <= 5 * args.rows / 1_000_000
    print(
        f"target (1M rows <= 5 s): {'met' if within else 'NOT met'}; "
        f"target (>= 0.8x psql): {'met' if speed >= 0.8 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
