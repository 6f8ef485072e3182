"""A table lock held by a holder process, against the lab's real PostgreSQL: recorded before it
locks, released by unlock and by `recover` even after the runner was SIGKILLed; bad input is
refused before anything is locked."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
from cafe_helpers import connect_db
from system_recover import recover_with_system_python
from target_files import write_target

from gameday import ledger, pglock
from gameday.target import load_target


@pytest.fixture
def target(tmp_path: Path):
    """A lab target with its ledger under tmp_path; no lock is left after the test."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
    assert not holders_sessions(), "a lock's session outlived the test"


def holders_sessions() -> list[int]:
    with connect_db() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'coffee-chaos-lock'"
        ).fetchall()
    return [row[0] for row in rows]


def insert_waits(schema: str = "coffee_rt") -> bool:
    """Whether an insert into the orders table has to wait (a lock is held)."""
    with connect_db() as conn:
        conn.execute("SET lock_timeout = 300")
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(
                    f"INSERT INTO {schema}.orders (drink, store, price, timestamp) "
                    "VALUES ('latte', 'central', 4.5, now())"
                )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


@pytest.mark.lab
def test_a_lock_is_recorded_held_and_released(target) -> None:
    locked = pglock.lock_table(target, "orders", hold_s=60)
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "holder" and entry["revert"]["pid"] == locked["holder_pid"]
    assert "LOCK TABLE coffee_rt.orders IN ACCESS EXCLUSIVE MODE" in entry["note"]
    assert holders_sessions() == [locked["backend_pid"]]
    assert insert_waits()

    released = pglock.unlock_table(target, "orders")
    assert released["changed"] and released["stopped"][0]["outcome"] == "killed"
    assert not insert_waits() and holders_sessions() == []
    assert ledger.ledger_for(target).entries() == []
    assert pglock.unlock_table(target, "orders")["changed"] is False


@pytest.mark.lab
def test_the_holder_lets_go_by_itself_after_hold_s(target) -> None:
    locked = pglock.lock_table(target, "orders", hold_s=1)
    psutil.Process(locked["holder_pid"]).wait(timeout=10)
    assert not insert_waits()


@pytest.mark.lab
def test_a_lock_left_by_a_sigkilled_runner_is_released_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import pglock\n"
        "from gameday.target import load_target\n"
        "pglock.lock_table(load_target({'target_file': sys.argv[1]}), 'orders', hold_s=120)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert insert_waits(), "the holder died with its runner: nothing for recover to do"
    [reverted] = recover_with_system_python(tmp_path / "target.json")
    assert reverted["kind"] == "holder" and reverted["result"]["outcome"] == "killed"
    assert not insert_waits()
    assert ledger.recover(target) == []


@pytest.mark.lab
def test_a_missing_table_is_refused_before_anything_is_locked(target) -> None:
    with pytest.raises(pglock.LockError) as exc:
        pglock.lock_table(target, "no_such_table", hold_s=5)
    assert "no table coffee_rt.no_such_table" in str(exc.value)
    assert ledger.ledger_for(target).entries() == [] and holders_sessions() == []


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"table": "orders; DROP TABLE x"}, "table"),
        ({"mode": "ROW SHARE; x"}, "mode"),
        ({"hold_s": 0}, "hold_s"),
        ({"hold_s": 7200}, "hold_s"),
        ({"hold_s": "60"}, "hold_s"),
    ],
)
def test_bad_input_is_refused_naming_it_before_anything_changes(tmp_path, arguments, names):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(pglock.LockError) as exc:
        pglock.lock_table(lab, **arguments)
    assert names in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
