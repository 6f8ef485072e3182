"""controls.adapter: the one place where engine errors become ActivityFailed."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import write_target

from actions import services as service_actions
from controls.adapter import engine_call
from gameday.ledger import LedgerError


def test_it_yields_the_target_with_the_configuration_applied(tmp_path):
    configuration = {**write_target(tmp_path), "load_workers": "3"}
    with engine_call("start load", configuration) as target:
        assert target.load_workers == 3
        assert target.state_dir == tmp_path / "state"


def test_an_engine_error_inside_fails_the_activity_saying_what_and_why(tmp_path):
    with pytest.raises(ActivityFailed) as exc:
        with engine_call("revert the ledger", write_target(tmp_path)):
            raise LedgerError("entry 42 is unreadable")
    assert str(exc.value) == "could not revert the ledger: entry 42 is unreadable"


def test_a_missing_target_file_fails_the_activity_naming_the_file(tmp_path):
    absent = tmp_path / "absent.json"
    with pytest.raises(ActivityFailed) as exc:
        with engine_call("kill service 'redis'", {"target_file": str(absent)}):
            pytest.fail("the body must not run without a target")
    assert str(exc.value).startswith(f"could not kill service 'redis': target file {absent}")


def test_activity_failed_and_other_errors_pass_through_unchanged(tmp_path):
    configuration = write_target(tmp_path)
    with pytest.raises(ActivityFailed) as exc:
        with engine_call("check", configuration):
            raise ActivityFailed("expected 503, got 200")
    assert str(exc.value) == "expected 503, got 200"
    with pytest.raises(KeyError):
        with engine_call("check", configuration):
            raise KeyError("a bug is not an activity failure")


def test_an_action_names_the_service_and_the_declared_ones(tmp_path):
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_service("memcached", configuration=write_target(tmp_path))
    message = str(exc.value)
    assert message.startswith("could not kill service 'memcached': unknown service 'memcached'")
    assert "the target declares" in message
