"""gameday.seed and actions.seed: COPY seeding against the real PostgreSQL, and its exact undo."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from chaoslib.exceptions import ActivityFailed

from actions import seed as seed_actions
from gameday import ledger, seed
from gameday.errors import GamedayError
from gameday.postgres import dsn_for

NOW = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)


def _rows(count: int, days: int = 30) -> list[list[str]]:
    text = "".join(seed.copy_chunks(100, count, days, now=NOW))
    return [line.split("\t") for line in text.splitlines()]


def test_rows_are_spread_over_the_last_days_stores_and_drinks():
    rows = _rows(20_000)
    assert [int(r[0]) for r in rows] == list(range(100, 20_100)), "consecutive ids from first_id"
    stamps = [datetime.fromisoformat(r[4]).replace(tzinfo=UTC) for r in rows]
    assert stamps == sorted(stamps), "sent oldest first"
    assert min(stamps) >= NOW - timedelta(days=30)
    assert max(stamps) < NOW.replace(minute=0, second=0), "complete hours only, none in the future"
    assert len({s.date() for s in stamps}) == 30
    drinks = Counter(r[1] for r in rows)
    assert set(drinks) == set(seed.PRICES_CENTS)
    assert drinks["cappuccino"] > drinks["latte"] > drinks["americano"]
    stores = Counter(r[3] for r in rows)
    assert set(stores) == set(seed.STORE_WEIGHTS) and stores.most_common(1)[0][0] == "downtown"
    for _, drink, price, _, _ in rows:
        low, high = seed.PRICES_CENTS[drink]
        assert low <= round(float(price) * 100) <= high
    hours = Counter(s.hour for s in stamps)
    assert hours[8] > 5 * hours[3], "a morning rush, quiet nights"


def test_the_same_seed_value_gives_the_same_rows():
    assert _rows(500) == _rows(500)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"rows": -5}, ["rows must be a whole number from 1 to 20,000,000", "-5"]),
        ({"rows": 10**9}, ["rows must be", "1000000000"]),
        ({"rows": True}, ["rows must be"]),
        ({"rows": "many"}, ["rows must be", "'many'"]),
        ({"name": "no spaces"}, ["seed name 'no spaces'"]),
        ({"days": 0}, ["days must be a whole number from 1 to 366"]),
        ({"schema": "x; drop"}, ["schema 'x; drop' is not a plain SQL identifier"]),
    ],
)
def test_bad_input_is_refused_before_anything_is_touched(kwargs, words):
    # The target is never used: input is checked before connecting or recording anything.
    with pytest.raises(seed.SeedError) as exc:
        seed.seed(None, **kwargs)  # type: ignore[arg-type]
    for word in words:
        assert word in str(exc.value)


def _fingerprint(dsn: str) -> tuple:
    with psycopg.connect(dsn) as conn:
        orders = conn.execute(
            "SELECT count(*), coalesce(max(id), 0), "
            "coalesce(sum(hashtext(o::text)::bigint), 0) FROM coffee_rt.orders o"
        ).fetchone()
        marker = conn.execute("SELECT to_regclass('coffee_chaos.seeds')").fetchone()[0]
        seeds = (
            conn.execute("SELECT count(*) FROM coffee_chaos.seeds").fetchone()[0] if marker else 0
        )
    return (*orders, seeds)


@pytest.mark.lab
def test_seed_is_idempotent_and_its_removal_leaves_the_table_as_it_was(lab):
    dsn = dsn_for(lab)
    before = _fingerprint(dsn)
    first = seed.seed(lab, rows=50_000, name="test-seed", days=7)
    try:
        assert first["changed"] and first["last_id"] - first["first_id"] == 49_999
        assert [e["kind"] for e in ledger.ledger_for(lab).entries()] == ["seed"]
        again = seed.seed(lab, rows=50_000, name="test-seed", days=7)
        assert not again["changed"] and "already seeded" in again["note"]
        with psycopg.connect(dsn) as conn:
            count, oldest = conn.execute(
                "SELECT count(*), min(timestamp) FROM coffee_rt.orders WHERE id BETWEEN %s AND %s",
                (first["first_id"], first["last_id"]),
            ).fetchone()
        assert count == 50_000, "a rerun does not double the data"
        assert oldest >= datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7)
        assert [s["name"] for s in seed.seeds(lab)] == ["test-seed"]
    finally:
        removed = seed.remove(lab, "test-seed")
    assert removed["removed"] == 50_000 and removed["resolved"] == [first["ledger_id"]]
    assert _fingerprint(dsn) == before
    assert seed.remove(lab, "test-seed")["changed"] is False


@pytest.mark.lab
def test_recover_removes_a_seed_left_behind(lab):
    dsn = dsn_for(lab)
    before = _fingerprint(dsn)
    seed.seed(lab, rows=1000, name="test-crash", analyze=False)
    reverted = ledger.recover(lab)
    assert [r["kind"] for r in reverted] == ["seed"]
    assert reverted[0]["result"]["removed"] == 1000
    assert _fingerprint(dsn) == before


@pytest.mark.lab
def test_missing_table_changes_nothing(lab):
    dsn = dsn_for(lab)
    before = _fingerprint(dsn)
    with pytest.raises(seed.SeedError) as exc:
        seed.seed(lab, rows=10, name="test-missing", table="no_such_orders")
    assert "table coffee_rt.no_such_orders does not exist" in str(exc.value)
    assert "nothing was changed" in str(exc.value)
    assert _fingerprint(dsn) == before and not ledger.ledger_for(lab).entries()


@pytest.mark.lab
def test_wrong_dsn_fails_clearly_without_the_password(lab):
    good = dsn_for(lab)
    wrong = psycopg.conninfo.make_conninfo(good, password="not-the-Secret-42")
    with pytest.raises(GamedayError) as exc:
        seed.seed(lab, rows=10, name="test-dsn", secrets={"coffee": {"postgres_dsn": wrong}})
    message = str(exc.value)
    assert "PostgreSQL: cannot seed coffee_rt.orders" in message
    assert "password authentication failed" in message
    assert "not-the-Secret-42" not in message and wrong not in message
    assert not ledger.ledger_for(lab).entries()


@pytest.mark.lab
def test_actions_wrap_errors_and_seed_through_the_lab(lab, tmp_path: Path):
    with pytest.raises(ActivityFailed) as exc:
        seed_actions.seed_orders(rows=0)
    assert "could not seed orders: rows must be" in str(exc.value)
    result = seed_actions.seed_orders(rows=2000, name="test-action", analyze=False)
    try:
        assert result["changed"] and result["rows"] == 2000
        json.dumps(result)
    finally:
        removed = seed_actions.remove_seeded_orders(name="test-action", vacuum=False)
    assert removed["removed"] == 2000
