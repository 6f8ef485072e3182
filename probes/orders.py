"""Chaos Toolkit probes: were the orders the target acknowledged really stored, and the
orders it refused not stored later?

Locust appends every acknowledged order (200 with an ``id``) to
``<run_dir>/locust/acked.jsonl``; these probes look each id up in the
contract's table ``<schema>.orders`` (the configuration's ``postgres_schema``)
with the ``postgres_dsn`` credential. ``place_refused_orders`` places marker orders
during a fault (a timestamp of their own, a day old, to the microsecond) and keeps those
answered 503 in ``<run_dir>/refused-orders.json``; ``refused_orders_not_stored`` checks later
that none of them was committed after all (a statement the API gave up on, still running).
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from psycopg import sql

from controls.adapter import engine_call
from controls.evidence import unmet
from gameday import httpcheck, locustrun
from gameday.postgres import sanitise
from gameday.target import load_secrets

__all__ = [
    "all_orders_stored",
    "no_lost_orders",
    "place_refused_orders",
    "refused_orders_not_stored",
]
logger = logging.getLogger("chaostoolkit")

BATCH = 5000
SHOWN_MISSING = 20
REFUSED_FILE = "refused-orders.json"
MAX_MARKERS = 20


def no_lost_orders(
    run_dir: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Every acknowledged order of the run (current/last, or ``run_dir``) is in PostgreSQL.

    Returns ``{"acknowledged", "found", "missing", "missing_count", "acked_file"}``;
    raises ActivityFailed naming the first missing ids if any order was lost.
    """
    facts = _check(run_dir, configuration, secrets)
    if facts["missing_count"]:
        raise ActivityFailed(
            f"{facts['missing_count']} of {facts['acknowledged']} acknowledged orders are not "
            f"in the database (first ids: {facts['missing']}); see {facts['acked_file']}"
        )
    return facts


def all_orders_stored(
    run_dir: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> bool:
    """Tolerance-friendly form of ``no_lost_orders``: True when none is missing."""
    return _check(run_dir, configuration, secrets)["missing_count"] == 0


def _check(run_dir: str | None, configuration: Configuration, secrets: Secrets) -> dict[str, Any]:
    with engine_call("check acknowledged orders", configuration) as target:
        chosen = Path(run_dir) if run_dir else Path(locustrun.latest(target)["run_dir"])
        dsn = load_secrets(target, secrets).get("postgres_dsn")
    if not dsn:
        raise ActivityFailed("could not check acknowledged orders: no postgres_dsn credential")
    acked_file = chosen / "locust" / "acked.jsonl"
    ids = _acknowledged_ids(acked_file)
    schema = target.postgres_schema
    found = _stored(dsn, schema, ids)
    missing = [order_id for order_id in ids if order_id not in found]
    logger.info(f"{len(ids)} acknowledged orders, {len(missing)} missing from {schema}.orders")
    return {
        "acknowledged": len(ids),
        "found": len(ids) - len(missing),
        "missing": missing[:SHOWN_MISSING],
        "missing_count": len(missing),
        "acked_file": str(acked_file),
    }


def _acknowledged_ids(acked_file: Path) -> list[int]:
    """Distinct ids in file order; a line still being written is skipped."""
    try:
        lines = acked_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ActivityFailed(
            f"{acked_file} does not exist: was the load started with actions.load.start_load?"
        ) from None
    ids: dict[int, None] = {}
    for line in lines:
        try:
            ids[int(json.loads(line)["id"])] = None
        except (ValueError, KeyError, TypeError):
            continue
    return list(ids)


def _stored(dsn: str, schema: str, ids: list[int]) -> set[int]:
    query = sql.SQL("SELECT id FROM {}.orders WHERE id = ANY(%s)").format(sql.Identifier(schema))
    found: set[int] = set()
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.read_only = True
            conn.execute("SET statement_timeout = 30000")
            for start in range(0, len(ids), BATCH):
                rows = conn.execute(query, (ids[start : start + BATCH],)).fetchall()
                found.update(row[0] for row in rows)
    except psycopg.Error as exc:
        raise ActivityFailed(
            f"cannot read {schema}.orders from PostgreSQL: {sanitise(str(exc), dsn)}"
        ) from None
    return found


def place_refused_orders(
    count: int = 3,
    timeout_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Place ``count`` marker orders one after another and keep those answered 503 (refused)
    for ``refused_orders_not_stored``. Returns every answer's status and time."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_MARKERS:
        raise ActivityFailed(f"count must be a whole number 1-{MAX_MARKERS}, got {count!r}")
    with engine_call("place marker orders", configuration) as target:
        run_dir = Path(locustrun.latest(target)["run_dir"])
        url = httpcheck.api_url(configuration)
        answers = [_place_marker(url, timeout_s) for _ in range(count)]
    refused = [a["timestamp"] for a in answers if a["status"] == 503]
    (run_dir / REFUSED_FILE).write_text(json.dumps(refused))
    logger.info("%d of %d marker orders refused with 503", len(refused), count)
    return {"placed": count, "refused": len(refused), "answers": answers}


def refused_orders_not_stored(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """None of the marker orders the API refused with 503 (``place_refused_orders``) is in
    PostgreSQL: a refused order must not be committed later."""
    with engine_call("check refused orders", configuration) as target:
        path = Path(locustrun.latest(target)["run_dir"]) / REFUSED_FILE
        dsn = load_secrets(target, secrets).get("postgres_dsn")
    if not dsn:
        raise ActivityFailed("could not check refused orders: no postgres_dsn credential")
    try:
        refused = json.loads(path.read_text())
    except FileNotFoundError:
        raise ActivityFailed(f"{path} does not exist: run place_refused_orders first") from None
    stamps = [datetime.fromisoformat(stamp).replace(tzinfo=None) for stamp in refused]
    query = sql.SQL("SELECT count(*) FROM {}.orders WHERE timestamp = ANY(%s)").format(
        sql.Identifier(target.postgres_schema)
    )
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            stored = conn.execute(query, (stamps,)).fetchone()[0]
    except psycopg.Error as exc:
        raise ActivityFailed(f"cannot read the orders: {sanitise(str(exc), dsn)}") from None
    facts = {"refused": len(refused), "stored": stored}
    if stored:
        raise ActivityFailed(
            unmet(
                "no order refused with 503 stored later",
                f"{stored} of {len(refused)} refused marker orders were committed after all",
                **facts,
            )
        )
    return facts


def _place_marker(api_url: str, timeout_s: float) -> dict[str, Any]:
    stamp = datetime.now(UTC) - timedelta(days=1, microseconds=random.randrange(10**6))
    body = {"drink": "latte", "store": "central", "price": 4.5, "timestamp": stamp.isoformat()}
    try:
        answer = httpcheck.call(api_url, "POST", "/api/v1/order", timeout_s, body)
    except httpcheck.HttpCheckError as exc:
        return {"status": 0, "error": str(exc), "timestamp": stamp.isoformat()}
    return {
        "status": answer.status,
        "elapsed_ms": answer.elapsed_ms,
        "timestamp": stamp.isoformat(),
    }
