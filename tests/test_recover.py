"""`make recover` after the worst stop: supervisord itself down, with and without the venv.

The lab is left as a host that rebooted mid-experiment leaves it: supervisord and every
program stopped, and a ledger holding a seed (its revert deletes rows through PostgreSQL)
and a toxic (its revert talks to the fault proxy), and more. One `make recover` must bring
supervisord and every program back first, then revert the ledger, and end with the lab
ready: through the playbook when the venv works, through the machine's python3 alone
(``python3 -m gameday.recover``) when it does not. Real supervisor, PostgreSQL and fault
proxy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests
from leftovers import leftovers

from gameday import ledger, locustrun, netfault, overrides, procs, seed, services
from gameday.target import load_target
from tests.cafe_helpers import connect_db, supervisorctl, wait_until

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
SYSTEM_PYTHON = "/usr/bin/python3"
HEAVY = ("psutil", "requests", "psycopg", "chaoslib", "supervisor", "redis", "urllib3", "yaml")


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


def _shut_supervisord_down() -> None:
    """Every program stops with supervisord, as on a reboot (no systemd to restart it)."""
    supervisord = psutil.Process(int(supervisorctl("pid").strip()))
    subprocess.run(["supervisorctl", "-c", SUPERVISOR_CONFIG, "shutdown"], check=True)
    supervisord.wait(timeout=90)  # it stops every program first
    assert not _supervisord_answers()


def _checkout_without_venv(where: Path) -> Path:
    """The repository's files, as a fresh clone has them: no .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in listed.stdout.splitlines():
        if (REPO / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, where / name)
    return where


def _without_pip_or_venv() -> dict[str, str]:
    """An environment where pip can install nothing and no venv is on PATH."""
    path = [p for p in os.environ["PATH"].split(":") if ".venv" not in p]
    return {
        **os.environ,
        "PATH": ":".join(path),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": "",
        "PIP_CONFIG_FILE": "/dev/null",
        "VIRTUAL_ENV": "",
    }


def test_recovery_imports_nothing_but_the_standard_library():
    """`python3 -m gameday.recover` and every reverter load with the machine's python3 and
    no site-packages at all (-S)."""
    code = (
        "import importlib, sys\n"
        "import gameday.recover\n"
        "from gameday.ledger import REVERTERS\n"
        "for where in REVERTERS.values():\n"
        "    importlib.import_module(where.split(':')[0])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.lab
@pytest.mark.slow
def test_make_recover_without_a_venv_after_a_reboot_leaves_nothing(lab, tmp_path):
    checkout = _checkout_without_venv(tmp_path / "checkout")
    seed.seed(lab, rows=1000, name=SEED_NAME, analyze=False)
    netfault.inject(lab, "redis", kind="latency", latency_ms=50)
    overrides.override(lab, "aggregator", {"AGGREGATOR_HOLD_SECONDS": 0})
    services.kill("redis", lab)
    load = locustrun.start(tmp_path / "run", lab.api_url, 1, 1, 300, {"CappuccinoLover": 1}, lab)
    kinds = sorted(e["kind"] for e in ledger.ledger_for(lab).entries())
    assert kinds == ["locust", "override", "seed", "service", "toxic"]
    try:
        _shut_supervisord_down()
        done = subprocess.run(
            ["make", "recover"],
            cwd=checkout,
            env=_without_pip_or_venv(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        assert not (checkout / ".venv").exists(), "make recover built a venv"
        assert leftovers(lab) == {}
        master = procs.read(load["pid"])  # gone, or our child's zombie until we reap it
        assert master is None or master.state == "Z", master
    finally:
        _bring_supervisord_back()
        wait_until(lambda: _answers(f"{lab.prometheus_url}/-/ready"), timeout=60)
        if ledger.ledger_for(lab).entries():
            time.sleep(2)
            ledger.recover(lab)


@pytest.mark.lab
@pytest.mark.slow
def test_one_recover_run_after_supervisord_stopped_leaves_nothing(lab):
    seeded = seed.seed(lab, rows=1000, name=SEED_NAME, analyze=False)
    toxic = netfault.inject(lab, "redis", kind="latency", latency_ms=50)
    kinds = sorted(e["kind"] for e in ledger.ledger_for(lab).entries())
    assert kinds == ["seed", "toxic"] and seeded["changed"] and toxic
    try:
        _shut_supervisord_down()
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
