"""The fault ledger: durable entries, idempotent resolve, recover that tries everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from target_files import write_target

from gameday import ledger
from gameday.ledger import Ledger, LedgerError
from gameday.target import load_target


@pytest.fixture
def target(tmp_path: Path):
    """The lab's target with its state (and ledger) under tmp_path."""
    # Nothing listens on port 9: proxy calls fail fast.
    return load_target(write_target(tmp_path, faultproxy_url="http://127.0.0.1:9"))


def test_record_writes_one_file_per_entry_with_every_field(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    entry_id = book.record("service", "redis", {"action": "start"}, note="killed")
    assert (tmp_path / "ledger" / f"{entry_id}.json").is_file()
    [entry] = book.entries()
    assert entry["id"] == entry_id
    assert entry["kind"] == "service" and entry["subject"] == "redis"
    assert entry["revert"] == {"action": "start"} and entry["note"] == "killed"
    assert entry["pid"] == os.getpid()
    assert entry["created_at"].endswith("+00:00")
    assert not list((tmp_path / "ledger").glob(".*.tmp"))


def test_entries_come_oldest_first_and_resolve_is_idempotent(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    first = book.record("toxic", "redis", {"proxy": "redis", "toxic": "t"})
    second = book.record("service", "api", {"action": "start"})
    assert [e["id"] for e in book.entries()] == [first, second]
    book.resolve(first)
    book.resolve(first)
    assert [e["id"] for e in book.entries()] == [second]


def test_an_absent_ledger_directory_holds_no_entries(tmp_path: Path) -> None:
    assert Ledger(tmp_path / "never-created").entries() == []


def test_unknown_kind_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    with pytest.raises(LedgerError) as exc:
        book.record("meteor", "api", {})
    assert "meteor" in str(exc.value) and "service" in str(exc.value)
    assert book.entries() == []


def test_an_unreadable_file_is_listed_apart_from_the_entries(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    entry_id = book.record("service", "redis", {"action": "start"})
    broken = tmp_path / "ledger" / "0-service-broken.json"
    broken.write_text("{not json")
    assert [e["id"] for e in book.entries()] == [entry_id]
    [(path, why)] = book.unreadable()
    assert path == broken and "not JSON" in why


def test_an_entry_survives_a_sigkill_of_the_process_that_recorded_it(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from gameday.ledger import Ledger\n"
        "Ledger(Path(sys.argv[1])).record('service', 'redis', {'action': 'start'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ledger")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    [entry] = Ledger(tmp_path / "ledger").entries()
    assert entry["subject"] == "redis" and entry["pid"] != os.getpid()


def test_ledger_for_uses_the_targets_state_directory(target) -> None:
    assert ledger.ledger_for(target).directory == target.state_dir / "ledger"


def test_recover_on_an_empty_ledger_does_nothing(target) -> None:
    assert ledger.recover(target) == []


def test_recover_tries_every_entry_and_lists_the_failures(target) -> None:
    book = ledger.ledger_for(target)
    unreachable = book.record(
        "toxic",
        "redis",
        {"proxy": "redis", "toxic": "coffee-chaos-latency", "faultproxy_url": "http://127.0.0.1:9"},
    )
    # an entry of a kind this version cannot revert (written by hand)
    (book.directory / "9-alien-x.json").write_text(
        json.dumps(
            {
                "id": "9-alien-x",
                "kind": "alien",
                "subject": "api",
                "revert": {},
                "note": "",
                "created_at": "",
                "pid": 1,
            }
        )
    )
    with pytest.raises(LedgerError) as exc:
        ledger.recover(target)
    message = str(exc.value)
    assert "2 fault(s)" in message
    assert unreachable in message and "cannot reach the fault proxy" in message
    assert "no reverter for fault kind 'alien'" in message
    assert "gameday recover" in message
    assert len(book.entries()) == 2  # nothing unreverted was forgotten


def test_recover_quarantines_unreadable_files_reverts_the_rest_and_reports_both(target) -> None:
    book = ledger.ledger_for(target)
    # a load whose process is long gone: its revert succeeds without touching anything
    gone = book.record("locust", "http://127.0.0.1:8005", {"pid": 2**22 + 1, "pgid": 2**22 + 1})
    (book.directory / "1-service-torn.json").write_text('{"id": "1-service-to')
    (book.directory / "2-service-list.json").write_text("[1, 2]")
    with pytest.raises(LedgerError) as exc:
        ledger.recover(target)
    message = str(exc.value)
    corrupt = book.directory / "corrupt"
    assert sorted(p.name for p in corrupt.iterdir()) == [
        "1-service-torn.json",
        "2-service-list.json",
    ]
    assert str(corrupt / "1-service-torn.json") in message
    assert str(corrupt / "2-service-list.json") in message
    assert "by hand" in message
    assert book.entries() == []  # the readable entry was reverted all the same
    assert gone not in message
