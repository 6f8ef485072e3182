"""The ledger reverted as `make recover` reverts it without a venv: the machine's python3
with no site-packages (-S), so a reverter that needs a third-party package fails here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
CODE = (
    "import json, sys\n"
    "from gameday import ledger\n"
    "from gameday.target import load_target\n"
    "print(json.dumps(ledger.recover(load_target({'target_file': sys.argv[1]}))))\n"
)


def recover_with_system_python(target_file: Path) -> list[dict]:
    """What ``ledger.recover`` reverted, run by the machine's python3 alone."""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-S", "-c", CODE, str(target_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
