"""gameday.overrides: what is refused before anything is recorded or written (the lab's
restart with an override is in tests/test_probes_data.py)."""

from __future__ import annotations

import pytest
from target_files import write_target

from gameday import ledger
from gameday.overrides import OverrideError, override, shown
from gameday.target import TargetError, load_target


@pytest.fixture
def target(tmp_path):
    (tmp_path / "env").mkdir()
    services = {"aggregator": {"program": "aggregator"}}
    configuration = write_target(tmp_path, services=services)
    return load_target({**configuration, "service_env_dir": str(tmp_path / "env")})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "env must be a non-empty mapping"),
        ({"lower": 1}, "name 'lower' must be upper case"),
        ({"A": "two\nlines"}, "value of A must be a single line"),
        ({"A": None}, "value of A must be a string or a number"),
    ],
)
def test_a_bad_environment_is_refused_before_anything_changes(target, env, words):
    with pytest.raises(OverrideError) as exc:
        override(target, "aggregator", env)
    assert words in str(exc.value)
    assert ledger.ledger_for(target).entries() == []
    assert list(target.service_env_dir.iterdir()) == []


def test_an_unknown_service_or_a_missing_directory_is_refused(tmp_path, target):
    with pytest.raises(TargetError) as exc:
        override(target, "nosuch", {"A": 1})
    assert "unknown service 'nosuch'" in str(exc.value)
    elsewhere = load_target(
        {**write_target(tmp_path, services={"api": {}}), "service_env_dir": "/nonexistent"}
    )
    with pytest.raises(OverrideError) as exc:
        override(elsewhere, "api", {"A": 1})
    assert "/nonexistent does not exist: provision the lab, or set service_env_dir" in str(
        exc.value
    )
    assert ledger.ledger_for(target).entries() == []


def test_secret_looking_values_are_hidden():
    assert shown({"POOL_SIZE": 2, "POSTGRES_PASSWORD": "s3cret"}) == {
        "POOL_SIZE": 2,
        "POSTGRES_PASSWORD": "***",
    }
