"""Admission of a `chaos run` (no lab): a fault left in any ledger of the machine refuses
it, except the background load of the game day that started the run."""

from __future__ import annotations

import pytest
from target_files import write_target

from controls import safety
from gameday import background, ledger
from gameday.target import load_target


@pytest.fixture
def configuration(tmp_path):
    yield write_target(tmp_path)
    lock = safety._admission.pop("lock", None)
    if lock is not None:
        lock.close()


def test_a_load_left_in_a_background_ledger_refuses_the_run(configuration):
    own = background.target_of(load_target(configuration))
    ledger.ledger_for(own).record("locust", "http://127.0.0.1:8005", {"pid": 0})
    refusal = safety._admit(configuration)
    assert refusal and "locust http://127.0.0.1:8005" in refusal and "make recover" in refusal


def test_the_sessions_own_background_load_does_not(configuration, monkeypatch):
    own = background.target_of(load_target(configuration))
    ledger.ledger_for(own).record("locust", "http://127.0.0.1:8005", {"pid": 0})
    monkeypatch.setenv(background.LEDGER_ENV, str(own.ledger_dir))
    assert safety._admit(configuration) is None


def test_another_ledgers_fault_still_refuses_it_within_a_session(configuration, monkeypatch):
    target = load_target(configuration)
    ledger.ledger_for(target).record("seed", "left", {}, note="an earlier run's seed")
    monkeypatch.setenv(background.LEDGER_ENV, str(background.target_of(target).ledger_dir))
    refusal = safety._admit(configuration)
    assert refusal and "seed left" in refusal
