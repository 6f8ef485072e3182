"""The provisioning playbooks: syntax, documented role variables, idempotence, no leaked secret.

The idempotence test runs `playbooks/provision.yml` once more against the real lab
(`make test` has provisioned it already) and expects `changed=0` in the recap.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
PLAYBOOKS = ("provision.yml", "teardown.yml", "recover.yml")
ROLES = sorted(p for p in (REPO / "playbooks" / "roles").iterdir() if p.is_dir())
PASSWORD_FILE = Path("/etc/coffee-chaos/credentials/postgres_password")
SUPERVISOR_CONF_DIR = Path("/etc/supervisor/conf.d")
LAB_LOG_DIR = Path("/var/log/coffee-chaos")
PROVISION_TIMEOUT = 900
# A lab shared by several checkouts keeps one café: COFFEE_CHAOS_CAFE_SOURCE=/path/to/cafe
# provisions from there (cafe_source_dir) instead of this checkout's cafe/.
CAFE_SOURCE = (
    ("-e", f"cafe_source_dir={os.environ['COFFEE_CHAOS_CAFE_SOURCE']}")
    if os.environ.get("COFFEE_CHAOS_CAFE_SOURCE")
    else ()
)
ENV_DIR = Path("/etc/coffee-chaos")
TARGET_FILE = ENV_DIR / "target.json"
DEPLOYMENT_FILE = Path("/opt/coffee-chaos/target/.deployed")


def _ansible_playbook(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLAYBOOK), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _changed_tasks(output: str) -> list[str]:
    """The names of the tasks a run reported as changed (for a readable failure)."""
    changed, task = [], ""
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed:"):
            changed.append(f"{task}: {line}")
    return changed


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_passes_syntax_check(playbook: str) -> None:
    result = _ansible_playbook(f"playbooks/{playbook}", "--syntax-check", timeout=120)
    assert result.returncode == 0, f"{playbook}: {result.stdout}{result.stderr}"
    assert f"playbook: playbooks/{playbook}" in result.stdout


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_documents_every_default_in_its_argument_specs(role: Path) -> None:
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"].get("options", {})
    undocumented = sorted(set(defaults) - set(options))
    without_default = sorted(set(options) - set(defaults))
    assert not undocumented, f"{role.name}: defaults missing from argument_specs: {undocumented}"
    assert not without_default, f"{role.name}: documented but no default: {without_default}"
    prefix = f"{role.name}_"
    unprefixed = sorted(name for name in defaults if not name.startswith(prefix))
    assert not unprefixed, (
        f"{role.name}: public variables without the {prefix} prefix: {unprefixed}"
    )
    for name, spec in options.items():
        assert spec.get("description"), f"{role.name}: {name} has no description"


@pytest.fixture(scope="module")
def provision_run() -> subprocess.CompletedProcess[str]:
    """One more provisioning run against the already provisioned lab."""
    return _ansible_playbook("playbooks/provision.yml", *CAFE_SOURCE, timeout=PROVISION_TIMEOUT)


@pytest.mark.lab
@pytest.mark.slow
def test_second_provision_changes_nothing(provision_run: subprocess.CompletedProcess[str]) -> None:
    output = provision_run.stdout + provision_run.stderr
    assert provision_run.returncode == 0, f"provision.yml failed:\n{output[-4000:]}"
    recap = re.search(
        r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", output
    )
    assert recap, f"no successful recap in the output:\n{output[-2000:]}"
    assert int(recap.group(1)) > 50, "the run did too little to be the full provisioning"
    assert recap.group(2) == "0", f"not idempotent, changed: {_changed_tasks(output)}"


@pytest.mark.lab
@pytest.mark.slow
def test_provision_output_and_program_files_hold_no_password(
    provision_run: subprocess.CompletedProcess[str],
) -> None:
    password = PASSWORD_FILE.read_text().strip()
    assert len(password) == 32 and password.isalnum(), "the generated password changed shape"
    assert password not in provision_run.stdout + provision_run.stderr, "password in the run log"
    files = [*SUPERVISOR_CONF_DIR.glob("*.conf"), *LAB_LOG_DIR.glob("*.log")]
    assert any(f.name == "postgres_exporter.conf" for f in files), "no lab program files found"
    leaking = [str(f) for f in files if password in f.read_text(errors="replace")]
    assert not leaking, f"the PostgreSQL password appears in {leaking}"


@pytest.mark.lab
@pytest.mark.parametrize("name", ["api", "aggregator", "cafe"])
def test_environment_files_are_root_owned_and_readable_by_the_cafe_group_only(name: str) -> None:
    """They hold the database password: the café's user may read them, not rewrite them."""
    info = (ENV_DIR / f"{name}.env").stat()
    cafe = pwd.getpwnam("cafe")
    owner = (pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name)
    assert owner == ("root", grp.getgrgid(cafe.pw_gid).gr_name)
    assert oct(info.st_mode & 0o777) == "0o640"


@pytest.mark.lab
@pytest.mark.parametrize("program", ["api", "aggregator"])
def test_cafe_programs_run_as_cafe_with_their_environment(program: str) -> None:
    pid = int(
        subprocess.run(["supervisorctl", "pid", program], capture_output=True, text=True).stdout
    )
    process = psutil.Process(pid)
    assert process.username() == "cafe"
    assert process.environ().get("POSTGRES_PASSWORD"), "the environment file was not loaded"


@pytest.mark.lab
def test_target_file_records_the_verified_deployment() -> None:
    record = json.loads(DEPLOYMENT_FILE.read_text())
    deployment = json.loads(TARGET_FILE.read_text())["deployment"]
    assert deployment == {"stamp": record["stamp"], "deployed_at": record["deployed_at"]}
    assert re.fullmatch(r"[0-9a-f]{64}", deployment["stamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", deployment["deployed_at"])
