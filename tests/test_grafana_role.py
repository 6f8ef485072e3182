"""The grafana role, as far as it runs without Grafana's package (this machine cannot reach
Grafana's APT repository): its argument specs, its preflight, and a check-mode run.

The check run reads the repository's key from a local file (a stand-in: get_url checks the
URL even in check mode); it skips the package, whose repository a check run has not added,
and supervisor, which only a real run declares the program to.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
PLAY = """- name: The grafana role alone.
  hosts: localhost
  gather_facts: true
  gather_subset: [min]
  roles:
    - grafana
"""


def run_role(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The role in check mode, every path it writes under ``tmp_path``."""
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    paths = {
        "grafana_config_file": tmp_path / "etc" / "grafana.ini",
        "grafana_provisioning_dir": tmp_path / "etc" / "provisioning",
        "grafana_data_dir": tmp_path / "data",
        "grafana_dashboards_dir": tmp_path / "dashboards",
        "grafana_admin_password_file": tmp_path / "etc" / "admin_password",
        "grafana_apt_key_url": "file:///usr/share/keyrings/debian-archive-keyring.gpg",
        "grafana_dashboards_source_dir": REPO / "dashboards",
    }
    variables = [arg for key, value in paths.items() for arg in ("-e", f"{key}={value}")]
    return subprocess.run(
        [str(PLAYBOOK), str(play), "--check", "--diff", *variables, *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_check_run_renders_every_file_and_changes_nothing(tmp_path: Path) -> None:
    result = run_role(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "failed=0" in output and "changed=7" in output
    assert "+http_addr = 127.0.0.1" in output and "+http_port = 3000" in output
    assert "+    url: http://127.0.0.1:9090" in output and "+      timeInterval: 5s" in output
    assert f"+      path: {tmp_path / 'dashboards'}" in output
    for board in ("game-day", "capacity", "soak"):
        assert f"coffee-chaos-{board}.json" in output
    assert "Install Grafana without starting it." in output
    assert not (tmp_path / "etc").exists() and not (tmp_path / "dashboards").exists()
    assert not Path("/etc/apt/sources.list.d/grafana.list").exists()


def test_an_address_other_than_loopback_is_refused(tmp_path: Path) -> None:
    result = run_role(tmp_path, "-e", "grafana_listen_address=0.0.0.0")
    assert result.returncode != 0
    assert "Grafana binds loopback only" in result.stdout
    assert "Fetch the key" not in result.stdout, "refused before anything else"


@pytest.mark.parametrize(
    ("variable", "value"), [("grafana_port", "three-thousand"), ("grafana_enabled", "maybe")]
)
def test_the_argument_specs_refuse_a_value_of_the_wrong_type(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run_role(tmp_path, "-e", f"{variable}={value}")
    assert result.returncode != 0
    assert "Validating arguments against arg spec" in result.stdout
    assert variable in result.stdout
