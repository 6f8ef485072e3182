"""Faults as series: the .prom file the ledger rewrites on every record and resolve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gameday import faultmetrics
from gameday.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent


def series(state_dir: Path) -> dict[str, list[tuple[dict, float]]]:
    """The samples of the .prom file, by metric name (as node_exporter parses them)."""
    text = (state_dir / "textfile" / faultmetrics.PROM_FILE).read_text()
    found: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def phase(state_dir: Path) -> str | None:
    current = [
        labels["phase"]
        for labels, value in series(state_dir).get("coffee_chaos_experiment_phase", [])
        if value == 1
    ]
    assert len(current) <= 1, f"more than one current phase: {current}"
    return current[0] if current else None


def test_a_fault_is_active_from_its_record_to_its_resolve(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    faultmetrics.set_activity("kill-redis")
    entry = book.record("service", "redis", {"action": "start"})
    [(labels, value)] = series(tmp_path)["coffee_chaos_fault_active"]
    assert labels == {"experiment": "", "kind": "service", "target": "redis", "name": "kill-redis"}
    assert value == 1
    book.resolve(entry)
    assert "coffee_chaos_fault_active" not in series(tmp_path)
    assert not list((tmp_path / "textfile").glob("*.tmp")), "no temporary file is left"
    mode = (tmp_path / "textfile" / faultmetrics.PROM_FILE).stat().st_mode & 0o777
    assert mode == 0o644, "node_exporter (another user) must read it"


def test_load_is_not_a_fault_and_faults_are_counted_per_kind_and_target(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    faultmetrics.set_activity("start-load")
    load = book.record("locust", "127.0.0.1", {"pid": 1})
    for _ in range(2):
        book.resolve(book.record("service", "redis", {"action": "start"}))
    book.record("toxic", "postgresql", {"proxy": "postgresql", "toxic": "t"})
    found = series(tmp_path)
    assert [labels["kind"] for labels, _ in found["coffee_chaos_fault_active"]] == ["toxic"]
    totals = {(s["kind"], s["target"]): v for s, v in found["coffee_chaos_faults_total"]}
    assert totals == {("service", "redis"): 2, ("toxic", "postgresql"): 1}
    book.resolve(load)


def test_the_phase_follows_the_ledger_through_a_run(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger")
    faultmetrics.begin_run(book, "kill-redis", 'Redis "killed"\nunder load')
    seen = [phase(tmp_path)]
    load = book.record("locust", "127.0.0.1", {"pid": 1})
    seen.append(phase(tmp_path))
    faultmetrics.set_activity("kill-redis")
    fault = book.record("service", "redis", {"action": "start"})
    seen.append(phase(tmp_path))
    book.resolve(fault)
    seen.append(phase(tmp_path))
    faultmetrics.end_method(book)
    seen.append(phase(tmp_path))
    assert seen == ["baseline", "baseline", "fault", "recovery", "after"]
    found = series(tmp_path)
    [(info, _)] = found["coffee_chaos_experiment_info"]
    assert info == {"experiment": "kill-redis", "title": 'Redis "killed"\nunder load'}
    book.resolve(load)
    faultmetrics.end_run(book)
    found = series(tmp_path)
    assert "coffee_chaos_experiment_phase" not in found
    assert "coffee_chaos_experiment_info" not in found
    assert found["coffee_chaos_faults_total"][0][1] == 1, "the count outlives the run"


def test_the_series_outlive_a_killed_runner_until_a_recover_rewrites_them(
    tmp_path: Path,
) -> None:
    runner = (
        "import os, signal, sys\n"
        "from gameday import faultmetrics\n"
        "from gameday.ledger import Ledger\n"
        "book = Ledger(sys.argv[1])\n"
        "faultmetrics.begin_run(book, 'kill-redis', 'a run')\n"
        "faultmetrics.set_activity('kill-redis')\n"
        "book.record('service', 'redis', {'action': 'start'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner, str(tmp_path / "ledger")], cwd=REPO, check=False
    )
    assert done.returncode == -signal.SIGKILL
    [(labels, _)] = series(tmp_path)["coffee_chaos_fault_active"]
    assert labels["experiment"] == "kill-redis" and labels["name"] == "kill-redis"
    assert phase(tmp_path) == "fault"
    book = Ledger(tmp_path / "ledger")  # what `gameday recover` does, in another process
    for entry in book.entries():
        book.resolve(entry["id"])
    faultmetrics.end_run(book)
    found = series(tmp_path)
    assert "coffee_chaos_fault_active" not in found and phase(tmp_path) is None


def test_an_unwritable_directory_is_logged_and_the_ledger_still_works(
    tmp_path: Path, caplog
) -> None:
    (tmp_path / "textfile").write_text("a file where the directory should be")
    book = Ledger(tmp_path / "ledger")
    entry = book.record("service", "redis", {"action": "start"})
    book.resolve(entry)
    assert book.entries() == []
    assert "cannot write the fault series" in caplog.text
    assert os.path.isfile(tmp_path / "textfile")
