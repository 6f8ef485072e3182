"""gameday.overrides: what is refused before anything is recorded or written (the lab's
restart with an override is in tests/test_probes_data.py)."""

from __future__ import annotations

import pytest
from target_files import write_target

from gameday import ledger
from gameday.errors import GamedayError
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
        ({"CAFE_FLAWS": "two\nlines"}, "value of CAFE_FLAWS must be a single line"),
        ({"DB_POOL_MAX_SIZE": None}, "value of DB_POOL_MAX_SIZE must be a string or a number"),
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
        override(target, "nosuch", {"CAFE_FLAWS": 1})
    assert "unknown service 'nosuch'" in str(exc.value)
    elsewhere = load_target(
        {**write_target(tmp_path, services={"api": {}}), "service_env_dir": "/nonexistent"}
    )
    with pytest.raises(OverrideError) as exc:
        override(elsewhere, "api", {"CAFE_FLAWS": 1})
    assert "/nonexistent does not exist: provision the lab, or set service_env_dir" in str(
        exc.value
    )
    assert ledger.ledger_for(target).entries() == []


def test_secret_looking_values_are_hidden():
    assert shown({"POOL_SIZE": 2, "POSTGRES_PASSWORD": "s3cret"}) == {
        "POOL_SIZE": 2,
        "POSTGRES_PASSWORD": "***",
    }


@pytest.fixture
def unreachable(tmp_path):
    """A target whose supervisor does not answer: an accepted override fails at the restart,
    after the file is written, and never touches the lab."""
    (tmp_path / "env").mkdir()
    configuration = write_target(
        tmp_path,
        services={"api": {"program": "api"}},
        supervisor_url=f"unix://{tmp_path}/none.sock",
        override_allow=["MY_CACHE_TTL"],
    )
    return load_target({**configuration, "service_env_dir": str(tmp_path / "env")})


@pytest.mark.parametrize("name", ["APP_HOST", "LD_PRELOAD", "POSTGRES_PASSWORD", "PATH"])
def test_a_variable_outside_the_allow_list_is_refused_before_anything_changes(unreachable, name):
    with pytest.raises(OverrideError) as exc:
        override(unreachable, "api", {"DB_POOL_MAX_SIZE": 2, name: "x"})
    message = str(exc.value)
    assert f"{name} may not be overridden" in message
    assert "DB_POOL_MAX_SIZE" in message and "CAFE_FLAWS" in message  # what may be
    assert "override_allow" in message  # and how to allow more
    assert ledger.ledger_for(unreachable).entries() == []
    assert list(unreachable.service_env_dir.iterdir()) == []


@pytest.mark.parametrize(
    "env",
    [
        {"DB_POOL_MAX_SIZE": 2, "DB_POOL_TIMEOUT": 1},
        {"AGGREGATOR_HOLD_SECONDS": 0},
        {"CAFE_FLAWS": "no-dependency-timeouts"},
        {"MY_CACHE_TTL": 5},  # allowed by the target file's override_allow
    ],
)
def test_allowed_variables_are_written_then_the_service_restarted(unreachable, env):
    with pytest.raises(GamedayError) as exc:
        override(unreachable, "api", env)
    assert "cannot reach supervisor" in str(exc.value)  # it got as far as the restart
    assert (unreachable.service_env_dir / "api.override.env").exists()
