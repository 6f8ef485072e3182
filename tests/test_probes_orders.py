"""probes.orders: acknowledged orders looked up in the real PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import write_target

from probes import http, orders

NEVER_AN_ID = 2_000_000_000


@pytest.fixture
def configuration(tmp_path: Path) -> dict:
    """The lab's target (a minimal one without a lab) with its state under tmp_path."""
    return write_target(tmp_path)


def _acked(run_dir: Path, ids: list[int], tail: str = "") -> Path:
    path = run_dir / "locust" / "acked.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": i, "drink": "latte"}) + "\n" for i in ids) + tail)
    return path


def _placed(count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while http.readyz_status(raise_on_unavailable=False) != 200:
        if time.monotonic() > deadline:
            pytest.fail("the café at 127.0.0.1:8005 is not ready after 60 s")
        time.sleep(0.5)
    ids = [http.place_order()["id"] for _ in range(count)]
    assert all(isinstance(i, int) for i in ids)
    return ids


@pytest.mark.lab
def test_every_acknowledged_order_is_found(tmp_path, configuration):
    ids = _placed(3)
    _acked(tmp_path, ids + ids[:1], tail='{"id": 99, "dri')  # a duplicate, a half-written line
    facts = orders.no_lost_orders(run_dir=str(tmp_path), configuration=configuration)
    assert facts["acknowledged"] == 3 and facts["found"] == 3
    assert facts["missing"] == [] and facts["missing_count"] == 0
    assert orders.all_orders_stored(run_dir=str(tmp_path), configuration=configuration)


@pytest.mark.lab
def test_a_lost_order_is_named(tmp_path, configuration):
    ids = _placed(2)
    _acked(tmp_path, [*ids, NEVER_AN_ID])
    with pytest.raises(ActivityFailed) as exc:
        orders.no_lost_orders(run_dir=str(tmp_path), configuration=configuration)
    assert f"1 of 3 acknowledged orders are not in the database (first ids: [{NEVER_AN_ID}])" in (
        str(exc.value)
    )
    assert not orders.all_orders_stored(run_dir=str(tmp_path), configuration=configuration)


@pytest.mark.lab
def test_a_database_error_never_shows_the_dsn(tmp_path, configuration):
    _acked(tmp_path, [1])
    dsn = "postgresql://coffee:Sup3r-s3cret-pw@127.0.0.1:5432/coffee"
    with pytest.raises(ActivityFailed) as exc:
        orders.no_lost_orders(
            run_dir=str(tmp_path),
            configuration=configuration,
            secrets={"coffee": {"postgres_dsn": dsn}},
        )
    assert "cannot read coffee_rt.orders from PostgreSQL" in str(exc.value)
    assert "Sup3r-s3cret-pw" not in str(exc.value) and dsn not in str(exc.value)


def test_missing_inputs_are_named(tmp_path, configuration):
    with pytest.raises(ActivityFailed) as exc:
        orders.no_lost_orders(configuration=configuration)
    assert "no load run is recorded" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        orders.no_lost_orders(run_dir=str(tmp_path / "nowhere"), configuration=configuration)
    assert "acked.jsonl does not exist" in str(exc.value)
