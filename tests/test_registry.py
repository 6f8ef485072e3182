"""gameday.registry: one kill switch, one run lock and one list of ledgers per machine.

Each test has a registry of its own (conftest's ``$COFFEE_CHAOS_REGISTRY``), never the lab's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from target_files import write_target

from gameday import ledger, recover, registry
from gameday.target import load_target

REPO = Path(__file__).resolve().parent.parent
HOLD_LOCK = """
import sys, time
from gameday import registry
lock, _ = registry.take_lock("chaos run")
print("held", flush=True)
time.sleep(30)
"""


def test_every_target_file_shares_the_machine_kill_switch(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    one = load_target(write_target(tmp_path / "one"))
    two = load_target(write_target(tmp_path / "two"))
    assert one.state_dir != two.state_dir
    assert one.kill_switch == two.kill_switch == registry.root() / "STOP"


def test_the_run_lock_names_its_holder_and_is_free_once_it_exits():
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        lock, who = registry.take_lock("recover")
        assert lock is None and who == f"pid {holder.pid} (chaos run)"
    finally:
        holder.kill()
        holder.wait()
    lock, who = registry.take_lock("recover")
    assert lock is not None and who == ""
    lock.close()


def test_a_ledger_registers_itself_with_its_first_entry_and_is_forgotten(tmp_path):
    configuration = write_target(tmp_path)
    target = load_target(configuration)
    book = ledger.ledger_for(target)
    assert registry.ledgers() == []
    book.record("service", "redis", {"action": "start"})
    assert registry.ledgers() == [(target.ledger_dir, Path(configuration["target_file"]))]
    registry.forget(target.ledger_dir)
    assert registry.ledgers() == []


def test_a_ledger_directory_that_is_gone_or_a_torn_record_is_skipped(tmp_path):
    registry.register(tmp_path / "gone" / "ledger", None)
    (tmp_path / "here").mkdir()
    registry.register(tmp_path / "here", None)
    (registry.root() / "ledgers" / "torn.json").write_text('{"ledger_d')
    assert registry.ledgers() == [(tmp_path / "here", None)]
    names = os.listdir(registry.root() / "ledgers")
    assert len(names) == 2 and "torn.json" in names  # the gone one was dropped
    record = json.loads((registry.root() / "ledgers" / min(names)).read_text())
    assert record["ledger_dir"] == str(tmp_path / "here")


def test_recover_refuses_under_a_live_run_naming_its_pid_and_touches_nothing(tmp_path, capsys):
    configuration = write_target(tmp_path, supervisor_url=f"unix://{tmp_path}/none.sock")
    book = ledger.ledger_for(load_target(configuration))
    entry = book.record("service", "redis", {"action": "start"})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code = recover.main(["--target", configuration["target_file"]])
    finally:
        holder.kill()
        holder.wait()
    said = capsys.readouterr().err
    assert code == 2
    assert f"pid {holder.pid}" in said and "FORCE=1" in said and "--force" in said
    assert [e["id"] for e in book.entries()] == [entry]  # nothing reverted under the run
