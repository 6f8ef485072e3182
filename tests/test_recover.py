"""`make recover` (playbooks/recover.yml) after the worst stop: supervisord itself down.

The lab is left as a host that rebooted mid-experiment leaves it: supervisord and every
program stopped, and a ledger holding a seed (its revert deletes rows through PostgreSQL)
and a toxic (its revert talks to the fault proxy). One run of the recover playbook must
bring supervisord and every program back first, then revert the ledger, and end with the
lab ready. Real supervisor, PostgreSQL and fault proxy.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from gameday import ledger, netfault, seed
from gameday.target import load_target
from tests.cafe_helpers import connect_db, supervisorctl, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
SUPERVISOR_CONFIG = "/etc/supervisor/supervisord.conf"
PROGRAMS = {
    "postgresql",
    "redis",
    "faultproxy",
    "api",
    "aggregator",
    "prometheus",
    "node_exporter",
    "redis_exporter",
    "postgres_exporter",
}
SEED_NAME = "test-recover-after-shutdown"


def _supervisord_answers() -> bool:
    done = subprocess.run(
        ["supervisorctl", "-c", SUPERVISOR_CONFIG, "pid"], capture_output=True, text=True
    )
    return done.returncode == 0 and done.stdout.strip().isdigit()


def _statuses() -> dict[str, str]:
    lines = supervisorctl("status").splitlines()
    return {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1}


def _seeded_rows() -> int:
    with connect_db() as conn:
        found = conn.execute("SELECT to_regclass('coffee_chaos.seeds')").fetchone()[0]
        if found is None:
            return 0
        return conn.execute(
            "SELECT count(*) FROM coffee_chaos.seeds WHERE name = %s", (SEED_NAME,)
        ).fetchone()[0]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _bring_supervisord_back() -> None:
    """Whatever happened in the test, leave supervisord and its programs running."""
    if not _supervisord_answers():
        subprocess.run(["supervisord", "-c", SUPERVISOR_CONFIG], check=False)
        wait_until(_supervisord_answers, timeout=30)
    for program in PROGRAMS:
        if _statuses().get(program) != "RUNNING":
            supervisorctl("start", program)


def test_one_recover_run_after_supervisord_stopped_leaves_nothing(lab):
    seeded = seed.seed(lab, rows=1000, name=SEED_NAME, analyze=False)
    toxic = netfault.inject(lab, "redis", kind="latency", latency_ms=50)
    kinds = sorted(e["kind"] for e in ledger.ledger_for(lab).entries())
    assert kinds == ["seed", "toxic"] and seeded["changed"] and toxic
    try:
        # Every program stops with supervisord, as on a reboot (no systemd to restart it).
        supervisord = psutil.Process(int(supervisorctl("pid").strip()))
        subprocess.run(["supervisorctl", "-c", SUPERVISOR_CONFIG, "shutdown"], check=True)
        supervisord.wait(timeout=90)  # it stops every program first
        assert not _supervisord_answers()

        done = subprocess.run(
            [str(PLAYBOOK), "playbooks/recover.yml"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        statuses = _statuses()
        assert {name: statuses.get(name) for name in PROGRAMS} == dict.fromkeys(
            PROGRAMS, "RUNNING"
        ), statuses
        assert not ledger.ledger_for(load_target()).entries(), "the ledger still holds faults"
        assert _seeded_rows() == 0, "the seeded block is still there"
        proxies = requests.get(f"{lab.faultproxy_url}/proxies", timeout=5).json()
        assert not [t for p in proxies.values() for t in p["toxics"]]
        assert requests.get(f"{lab.api_url}/readyz", timeout=5).status_code == 200
    finally:
        _bring_supervisord_back()
        # The tests after this one query Prometheus, which replays its WAL after a restart.
        wait_until(lambda: _answers(f"{lab.prometheus_url}/-/ready"), timeout=60)
        if ledger.ledger_for(lab).entries():
            time.sleep(2)  # PostgreSQL and the proxy may still be starting
            ledger.recover(lab)
