"""The experiment files are generated from the families and say what they are meant to."""

from __future__ import annotations

import json

import pytest

from experiments import build
from experiments.families import EXPERIMENTS


def test_regenerating_the_experiments_changes_nothing():
    assert build.stale() == [], "run `python -m experiments.build` and commit the JSON files"


def test_every_experiment_file_comes_from_a_family():
    on_disk = {path.stem for path in build.HERE.glob("*.json")}
    assert on_disk == set(EXPERIMENTS)


def test_a_changed_family_is_reported_as_drift(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "HERE", tmp_path)
    (tmp_path / "kill-redis.json").write_text(build.render(EXPERIMENTS["kill-redis"]()))
    assert "kill-redis.json" not in build.stale()
    body = json.loads((tmp_path / "kill-redis.json").read_text())
    body["configuration"]["fault_s"] = 1
    (tmp_path / "kill-redis.json").write_text(build.render(body))
    assert "kill-redis.json" in build.stale()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_rollbacks_refer_to_activities_of_the_method(name):
    body = EXPERIMENTS[name]()
    names = {activity["name"] for activity in body["method"]}
    refs = [rollback["ref"] for rollback in body["rollbacks"] if "ref" in rollback]
    assert set(refs) <= names
    assert "stop-load" in refs, "every experiment stops its load in the rollbacks"
