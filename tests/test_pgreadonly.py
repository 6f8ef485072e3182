"""The target's database made read-only, against the lab's real PostgreSQL: recorded before the
ALTER, sessions ended so they reconnect read-only, made writable again by `make_writable`
and by `recover` (the machine's python3, no site-packages) after the runner was SIGKILLed;
bad input is refused before anything changes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from cafe_helpers import connect_db
from target_files import write_target

from gameday import ledger, pgreadonly, readonlyrevert
from gameday.target import load_target
from tests.chaosrun import REPO

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def target(tmp_path: Path):
    """A lab target with its ledger under tmp_path; the database writable after the test."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
    assert not read_only_setting(), "the database is still read-only"


def read_only_setting() -> list[str]:
    """The database's own default_transaction_read_only, if it sets one."""
    with connect_db() as conn:
        rows = conn.execute(
            "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, "
            "unnest(s.setconfig) c WHERE d.datname = current_database() AND s.setrole = 0 "
            "AND c LIKE 'default_transaction_read_only=%'"
        ).fetchall()
    return [row[0] for row in rows]


def writes() -> bool:
    """Whether a new session may write (a temporary table, rolled back)."""
    with connect_db() as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("CREATE TEMPORARY TABLE coffee_chaos_probe (x int)")
                conn.execute("INSERT INTO coffee_chaos_probe VALUES (1)")
        except psycopg.errors.ReadOnlySqlTransaction:
            return False
    return True


@pytest.mark.lab
def test_the_database_is_made_read_only_recorded_and_made_writable_again(target) -> None:
    with connect_db() as before:
        made = pgreadonly.make_read_only(target)
        [entry] = ledger.ledger_for(target).entries()
        assert entry["kind"] == "read_only" and entry["revert"]["database"] == made["database"]
        assert read_only_setting() == ["default_transaction_read_only=on"]
        assert made["terminated"] >= 1, "the session opened before was ended"
        with pytest.raises(psycopg.OperationalError):
            before.execute("SELECT 1")
    assert not writes()

    restored = pgreadonly.restore(target)
    assert restored["changed"] and restored["restored"][0]["database"] == made["database"]
    assert read_only_setting() == [] and writes()
    assert ledger.ledger_for(target).entries() == []
    assert pgreadonly.restore(target)["changed"] is False


@pytest.mark.lab
def test_a_database_left_read_only_by_a_sigkilled_runner_is_reverted_by_recover(
    target, tmp_path
) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import pgreadonly\n"
        "from gameday.target import load_target\n"
        "pgreadonly.make_read_only(load_target({'target_file': sys.argv[1]}))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    target_file = str(tmp_path / "target.json")
    done = subprocess.run([sys.executable, "-c", script, target_file], timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    assert not writes(), "nothing for recover to do"
    recover = (
        "import sys\n"
        "from gameday import ledger\n"
        "from gameday.target import load_target\n"
        "[done] = ledger.recover(load_target({'target_file': sys.argv[1]}))\n"
        "print(done['kind'], done['result']['reset'])\n"
    )
    recovered = subprocess.run(
        [SYSTEM_PYTHON, "-S", "-c", recover, target_file],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.split() == ["read_only", "default_transaction_read_only"]
    assert read_only_setting() == [] and writes()
    assert ledger.recover(target) == []


@pytest.mark.lab
def test_a_database_that_sets_its_own_read_only_is_refused_unchanged(target) -> None:
    with connect_db() as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = off')
    try:
        with pytest.raises(pgreadonly.ReadOnlyError) as exc:
            pgreadonly.make_read_only(target)
        assert "already sets default_transaction_read_only=off" in str(exc.value)
        assert ledger.ledger_for(target).entries() == []
        assert read_only_setting() == ["default_transaction_read_only=off"]
    finally:
        with connect_db() as conn:
            conn.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')


@pytest.mark.parametrize("terminate_sessions", ["yes", 1, None])
def test_a_bad_terminate_sessions_is_refused_naming_it(tmp_path, terminate_sessions) -> None:
    lab = load_target(write_target(tmp_path))
    with pytest.raises(pgreadonly.ReadOnlyError) as exc:
        pgreadonly.make_read_only(lab, terminate_sessions=terminate_sessions)
    assert "terminate_sessions" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []


@pytest.mark.parametrize("database", ["", "coffee; DROP DATABASE x", None])
def test_an_entry_naming_no_database_is_not_reverted(tmp_path, database) -> None:
    lab = load_target(write_target(tmp_path))
    entry = {"id": "x", "kind": "read_only", "subject": "s", "revert": {"database": database}}
    with pytest.raises(readonlyrevert.ReadOnlyRevertError) as exc:
        readonlyrevert.revert(entry, lab)
    assert "names no database" in str(exc.value) and "RESET" in str(exc.value)
