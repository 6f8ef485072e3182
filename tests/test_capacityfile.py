"""The saved capacity (gameday.capacityfile): written, read back, refused when it holds no
capacity of the target's or is older than the target's last deployment, printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday import capacityfile
from gameday.target import load_target

DEPLOYED = {"stamp": "63a2c33c3a54" + "0" * 52, "deployed_at": "2026-11-30T07:32:59Z"}


def _target(tmp_path: Path, deployment: dict | None = DEPLOYED):
    raw = {"api_url": "http://127.0.0.1:8005", "services": {}, "state_dir": str(tmp_path)}
    if deployment is not None:
        raw["deployment"] = deployment
    (tmp_path / "target.json").write_text(json.dumps(raw))
    return load_target({"target_file": str(tmp_path / "target.json")})


def _record(**changes) -> dict:
    record = {
        "method": "search",
        "orders_per_s": 187.4,
        "summary": "Capacity 187.4 orders/s",
        "measured_at": "2026-11-30T08:00:00+00:00",
        "deployment": {"stamp": DEPLOYED["stamp"], "deployed_at": DEPLOYED["deployed_at"]},
        "steps": [],
    }
    return {**record, **changes}


def test_a_saved_search_round_trips_to_every_path(tmp_path):
    target = _target(tmp_path)
    path = capacityfile.capacity_path(target)
    assert path == tmp_path / "capacity.json"
    capacityfile.save_capacity(_record(), [path, tmp_path / "run" / "capacity.json"])
    assert capacityfile.load_capacity(path, target) == _record()
    assert json.loads((tmp_path / "run" / "capacity.json").read_text()) == _record()
    assert capacityfile.find_saved(tmp_path / "none.json", target) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no capacity figure is saved in {path}: run capacity-search first"),
        ("{", "is unreadable"),
        (json.dumps({"orders_per_s": 220, "knee_reached": False}), "not written by a capacity"),
        (
            json.dumps(_record(orders_per_s=None, summary="Limited by the load generator at 180")),
            "holds no capacity of the target's: Limited by the load generator at 180",
        ),
    ],
)
def test_what_holds_no_capacity_of_the_targets_is_refused_saying_what_to_do(
    tmp_path, text, message
):
    path = tmp_path / "capacity.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(capacityfile.CapacityError) as refused:
        capacityfile.load_capacity(path, _target(tmp_path))
    assert message.format(path=path) in str(refused.value)
    assert "run capacity-search" in str(refused.value)


@pytest.mark.parametrize(
    ("record", "deployment", "usable"),
    [
        (_record(), DEPLOYED, True),
        (_record(measured_at="2026-11-30T07:00:00+00:00"), DEPLOYED, False),  # before it
        (_record(deployment={"stamp": "f" * 64, "deployed_at": "x"}), DEPLOYED, False),
        (_record(deployment=None), DEPLOYED, True),  # measured after it, stamp unknown
        (_record(measured_at="2020-01-01T00:00:00+00:00"), None, True),  # nothing to compare
    ],
)
def test_a_capacity_older_than_the_last_deployment_is_refused(tmp_path, record, deployment, usable):
    target = _target(tmp_path, deployment)
    path = tmp_path / "capacity.json"
    capacityfile.save_capacity(record, [path])
    if usable:
        assert capacityfile.load_capacity(path, target)["orders_per_s"] == 187.4
        return
    with pytest.raises(capacityfile.CapacityError) as refused:
        capacityfile.load_capacity(path, target)
    assert "older than the target's last deployment (63a2c33c3a54 at 2026-11-30T07:32:59" in str(
        refused.value
    )
    assert str(refused.value).endswith("run capacity-search again")
