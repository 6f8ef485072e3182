"""Every free connection slot taken by a holder process, against the lab's real PostgreSQL and
café: recorded before it connects, the café keeps serving on its pool, released by
`release` and by `recover` even after the runner was SIGKILLed; bad input is refused before
anything is taken."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import requests
from cafe_helpers import connect_db, wait_until
from target_files import write_target

from gameday import ledger, pgconns, procs
from gameday.connholder import APPLICATION
from gameday.target import load_target


@pytest.fixture
def target(tmp_path: Path):
    """A lab target with its ledger under tmp_path; no held connection is left after it."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
    assert wait_until(lambda: not held_sessions(), timeout=10), "held connections outlived it"


@pytest.fixture
def admin():
    """A connection opened before the slots are taken: it keeps working, as a pool's do."""
    with connect_db() as conn:
        yield conn


def held_sessions(conn: psycopg.Connection | None = None) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    if conn is not None:
        return conn.execute(query, (APPLICATION,)).fetchone()[0]
    with connect_db() as fresh:
        return fresh.execute(query, (APPLICATION,)).fetchone()[0]


def gone(pid: int) -> bool:
    process = procs.read(pid)
    return process is None or process.state == "Z"  # our child, not reaped yet


def now() -> str:
    return datetime.now(UTC).isoformat()


def new_connection_refused() -> bool:
    try:
        connect_db().close()
    except psycopg.OperationalError as exc:
        assert "too many clients" in str(exc) or "reserved" in str(exc), exc
        return True
    return False


@pytest.mark.lab
def test_every_free_slot_is_taken_recorded_and_given_back(target, admin) -> None:
    taken = pgconns.exhaust(target, hold_s=60)
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "holder" and entry["revert"]["pid"] == taken["holder_pid"]
    assert "every free connection slot" in entry["note"]
    assert taken["taken"] == held_sessions(admin) > 0
    assert taken["in_use_before"] + taken["taken"] >= (taken["max_connections"] - taken["reserved"])
    assert new_connection_refused()
    order = {"drink": "latte", "store": "central", "price": 4.5, "timestamp": now()}
    served = requests.post(f"{target.api_url}/api/v1/order", json=order, timeout=5)
    assert served.status_code == 200, "the café's pool keeps serving: " + served.text

    released = pgconns.release(target)
    assert released["changed"] and released["stopped"][0]["outcome"] == "killed"
    assert held_sessions() == 0 and not new_connection_refused()
    assert ledger.ledger_for(target).entries() == []
    assert pgconns.release(target)["changed"] is False


@pytest.mark.lab
def test_the_holder_lets_go_by_itself_after_hold_s(target) -> None:
    taken = pgconns.exhaust(target, hold_s=1)
    assert wait_until(lambda: gone(taken["holder_pid"]), timeout=10)
    assert wait_until(lambda: not held_sessions(), timeout=10)
    assert not new_connection_refused()


@pytest.mark.lab
def test_slots_left_by_a_sigkilled_runner_are_given_back_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import pgconns\n"
        "from gameday.target import load_target\n"
        "pgconns.exhaust(load_target({'target_file': sys.argv[1]}), hold_s=120)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert new_connection_refused(), "the holder died with its runner: nothing to recover"
    [reverted] = ledger.recover(target)
    assert reverted["kind"] == "holder" and reverted["result"]["outcome"] == "killed"
    assert wait_until(lambda: not held_sessions(), timeout=10)
    assert not new_connection_refused()
    assert ledger.recover(target) == []


@pytest.mark.parametrize("hold_s", [0, -5, 7200, "60", True, None])
def test_a_bad_hold_s_is_refused_naming_it_before_anything_changes(tmp_path, hold_s) -> None:
    lab = load_target(write_target(tmp_path))
    with pytest.raises(pgconns.ConnectionsError) as exc:
        pgconns.exhaust(lab, hold_s=hold_s)
    assert "hold_s" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
