"""Bring-your-own deployments converge (issue 10, item 6), through the real `cafe` role.

tests/fixtures/byo_cafe.yml deploys tests/fixtures/byo_cafe (its own package, plain-SQL
migrations, a one-shot aggregator run every 2 s, logs/ beside its code) beside the lab's
café: programs byo-api and byo-aggregator, /opt/coffee-chaos/byo-test, user coffee-byo,
port 8015, schema byo_test. Real ansible-playbook, supervisor and PostgreSQL; everything is
removed afterwards. The tests run in order, each from the state the previous one left.
"""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import requests

from gameday import ledger, services
from gameday.target import Service, load_target
from tests.cafe_helpers import connect_db, supervisorctl, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
FIXTURE = REPO / "tests" / "fixtures" / "byo_cafe"
INSTALL = Path("/opt/coffee-chaos/byo-test")
RECORD = INSTALL / ".deployed"
FLAG = INSTALL / "fail-migration"
API, AGGREGATOR = "byo-api", "byo-aggregator"
USER = "coffee-byo"
SCHEMA = "byo_test"
URL = "http://127.0.0.1:8015"


def _deploy(source: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(PLAYBOOK), "tests/fixtures/byo_cafe.yml", "-e", f"byo_source_dir={source}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _changed(output: str) -> int:
    recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    assert recap, f"no recap in the output:\n{output[-3000:]}"
    return int(recap.group(1))


def _task_changed(output: str, task: str) -> bool:
    """Whether the task named ``task`` reported a change."""
    block = output.split(f"TASK [cafe : {task}]", 1)
    return len(block) == 2 and "changed:" in block[1].split("TASK [", 1)[0]


def _version() -> dict:
    return requests.get(f"{URL}/version", timeout=5).json()


def _pid(program: str) -> int:
    return int(supervisorctl("pid", program).strip() or 0)


def _passes() -> list[tuple]:
    with connect_db() as conn:
        return conn.execute(
            f"SELECT id, version, pid, started_at, finished_at FROM {SCHEMA}.passes ORDER BY id"
        ).fetchall()


def _remove() -> None:
    """Remove everything the fixture's deployment made (also after an interrupted run)."""
    for program in (API, AGGREGATOR):
        Path(f"/etc/supervisor/conf.d/{program}.conf").unlink(missing_ok=True)
        supervisorctl("stop", program)
        supervisorctl("remove", program)
        Path(f"/var/log/coffee-chaos/{program}.log").unlink(missing_ok=True)
    shutil.rmtree(INSTALL, ignore_errors=True)
    subprocess.run(["userdel", USER], capture_output=True, check=False)
    with connect_db() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _running_in_group(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (zombies not yet reaped do not)."""
    running = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return running


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A copy of the fixture the tests edit (version 2), removed with the deployment."""
    copy = tmp_path_factory.mktemp("byo") / "byo_cafe"
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _remove()
    try:
        yield copy
    finally:
        _remove()
    assert API not in supervisorctl("status"), "the fixture's programs were not removed"
    assert not INSTALL.exists()


def test_first_deployment_runs_as_its_user_with_logs_beside_its_code(source):
    code, output = _deploy(source)
    assert code == 0, output[-4000:]
    assert _version()["version"] == "1"
    record = json.loads(RECORD.read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", record["stamp"])
    deployed_at = datetime.fromisoformat(record["deployed_at"].replace("Z", "+00:00"))
    assert abs(time.time() - deployed_at.timestamp()) < 120
    user = pwd.getpwnam(USER)
    # cafe_writable_dirs: logs/ is the user's; the code beside it stays root's.
    assert (INSTALL / "src" / "logs").stat().st_uid == user.pw_uid
    assert (INSTALL / "src" / "logs" / "api.log").stat().st_uid == user.pw_uid
    for path in (INSTALL / "src", INSTALL / "src" / "byocafe" / "api.py"):
        assert path.stat().st_uid == 0 and not path.stat().st_mode & 0o022, path
    # The environment (it holds the password): root's, readable by the user's group only.
    for name in ("api", "aggregator", "cafe"):
        info = (INSTALL / "etc" / f"{name}.env").stat()
        assert (info.st_uid, info.st_gid, oct(info.st_mode & 0o777)) == (
            0,
            user.pw_gid,
            "0o640",
        ), name
    api = psutil.Process(_pid(API))
    assert api.username() == USER and api.environ()["POSTGRES_SCHEMA"] == SCHEMA
    assert grp.getgrgid(api.gids().real).gr_name == grp.getgrgid(user.pw_gid).gr_name


def test_a_run_that_failed_in_its_migration_is_completed_by_the_next(source):
    before, old_pid = json.loads(RECORD.read_text()), _pid(API)
    init = source / "byocafe" / "__init__.py"
    init.write_text(init.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    (source / "migrations" / "002_pass_notes.sql").write_text(
        "ALTER TABLE passes ADD COLUMN note text;\n"
    )
    FLAG.touch()
    code, output = _deploy(source)
    assert code != 0 and "migration failed" in output, output[-4000:]
    # The hazard: version 2 is on disk, version 1 still serves, and nothing is recorded.
    assert 'VERSION = "2"' in (INSTALL / "src" / "byocafe" / "__init__.py").read_text()
    assert _version() == {"version": "1", "pid": old_pid}
    assert json.loads(RECORD.read_text()) == before

    FLAG.unlink()
    code, output = _deploy(source)  # the source is the same as in the failed run
    assert code == 0, output[-4000:]
    assert _task_changed(output, "Migrate the target's database (a new deployment).")
    assert _task_changed(
        output, "Restart every program on a new deployment, or one that is older than its code."
    )
    served = _version()
    assert served["version"] == "2" and served["pid"] != old_pid
    assert requests.get(f"{URL}/readyz", timeout=5).json()["missing"] == []  # 002 applied
    after = json.loads(RECORD.read_text())
    assert after["stamp"] != before["stamp"] and after["deployed_at"] >= before["deployed_at"]
    code_changed_at = max(p.stat().st_ctime for p in (INSTALL / "src" / "byocafe").iterdir())
    for program in (API, AGGREGATOR):
        assert psutil.Process(_pid(program)).create_time() > code_changed_at, program


def test_a_run_with_nothing_new_changes_nothing(source):
    pids = (_pid(API), _pid(AGGREGATOR))
    code, output = _deploy(source)
    assert code == 0, output[-4000:]
    assert _changed(output) == 0, output[-4000:]
    assert (_pid(API), _pid(AGGREGATOR)) == pids


def test_a_program_older_than_the_code_on_disk_is_restarted(source):
    # Same content, newer inode: what a copy made behind the role's back looks like.
    code_file = INSTALL / "src" / "byocafe" / "api.py"
    os.chmod(code_file, code_file.stat().st_mode)
    pids = (_pid(API), _pid(AGGREGATOR))
    code, output = _deploy(source)
    assert code == 0, output[-4000:]
    assert not _task_changed(output, "Migrate the target's database (a new deployment).")
    new = (_pid(API), _pid(AGGREGATOR))
    assert new[0] != pids[0] and new[1] != pids[1]
    assert psutil.Process(new[0]).create_time() > code_file.stat().st_ctime


def test_one_shot_aggregator_runs_every_interval_and_a_kill_suspends_it(source, tmp_path):
    loop_pid = _pid(AGGREGATOR)
    assert os.getpgid(loop_pid) == loop_pid, "the program leads its own process group"
    assert psutil.Process(loop_pid).username() == USER

    loop_started = psutil.Process(loop_pid).create_time()

    def three_passes() -> list[tuple]:
        rows = [r for r in _passes() if r[3].timestamp() >= loop_started and r[4] is not None]
        return rows if len(rows) >= 3 else None

    rows = wait_until(three_passes, timeout=15)
    gaps = [(b[3] - a[3]).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    assert all(1.9 <= gap <= 2.5 for gap in gaps), f"passes not every 2 s: {gaps}"

    def pass_in_progress() -> psutil.Process | None:
        """A running pass that has recorded its start (a pass just forked has not yet)."""
        children = psutil.Process(loop_pid).children(recursive=True)
        child = next((c for c in children if "byocafe.aggregate" in c.cmdline()), None)
        started = child and any(r[2] == child.pid and r[4] is None for r in _passes())
        return child if started else None

    child = wait_until(pass_in_progress, timeout=10, interval=0.05)
    assert os.getpgid(child.pid) == loop_pid, "a pass runs in the program's process group"
    assert child.username() == USER

    # The toolkit's own kill, as kill-aggregator does it, on a target naming this program.
    target = dataclasses.replace(
        load_target(),
        services={"aggregator": Service("aggregator", AGGREGATOR)},
        state_dir=tmp_path,
    )
    killed = services.kill("aggregator", target)
    assert child.pid in killed["killed_pids"] and killed["process_group"] == loop_pid
    assert not _running_in_group(loop_pid), "the kill left processes running"
    assert "RUNNING" not in supervisorctl("status", AGGREGATOR)
    cut = [r for r in _passes() if r[2] == child.pid]
    assert cut and cut[0][4] is None, "the pass in progress was killed before it finished"
    count = len(_passes())
    time.sleep(5)  # more than two intervals
    assert len(_passes()) == count, "the schedule ran on after its program was killed"

    ledger.recover(target)  # the revert: start the program again
    wait_until(lambda: [r for r in _passes()[count:] if r[4] is not None], timeout=10)
    assert "RUNNING" in supervisorctl("status", AGGREGATOR)
    assert not ledger.ledger_for(target).entries()
