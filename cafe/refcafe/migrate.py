"""Create the schema idempotently: ``python -m refcafe.migrate``.

One index, the contract's ``orders_timestamp_idx`` (timestamp): it serves the hourly figures
and the 50 newest orders. The 30-day top five is a parallel scan that takes ~0.12 s over
1,000,000 orders (benchmarks/aggregator_pass.py), so no covering index is worth its cost
on every insert.
"""

from __future__ import annotations

import logging
import sys
import time

import psycopg
from psycopg import sql

from .settings import Settings, SettingsError

logger = logging.getLogger(__name__)

STATEMENTS = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {schema}.orders (
        id serial PRIMARY KEY,
        drink text NOT NULL,
        store text NOT NULL,
        price numeric(10,2) NOT NULL,
        timestamp timestamp NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_timestamp_idx ON {schema}.orders (timestamp)",
)


def migrate(connection: psycopg.Connection, schema: str) -> None:
    """Apply every statement in one transaction; running it twice changes nothing."""
    with connection.transaction():
        for statement in STATEMENTS:
            connection.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"refcafe.migrate: {exc}", file=sys.stderr)
        return 2
    delay = settings.connection_initial_backoff
    for attempt in range(settings.connection_max_retries + 1):
        try:
            with psycopg.connect(settings.postgres_conninfo("refcafe-migrate")) as connection:
                migrate(connection, settings.postgres_schema)
            logger.info("schema %s is up to date", settings.postgres_schema)
            return 0
        except psycopg.OperationalError as exc:
            logger.warning("attempt %d: cannot reach postgresql: %s", attempt + 1, exc)
            if attempt < settings.connection_max_retries:
                time.sleep(delay)
                delay *= 2
    print(
        "refcafe.migrate: PostgreSQL could not be reached at "
        f"{settings.postgres_host}:{settings.postgres_port}; start it and run again",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
