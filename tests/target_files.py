"""Target files for tests: the lab's target copied under tmp_path, and free loopback ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

LAB_TARGET = Path(os.environ.get("COFFEE_CHAOS_TARGET", "/etc/coffee-chaos/target.json"))
WITHOUT_LAB = {"api_url": "http://127.0.0.1:8005", "services": {}}


def write_target(tmp_path: Path, **changes) -> dict:
    """The lab's target (a minimal one where no lab is provisioned) with its state
    directory (ledger, current run) under tmp_path and ``changes`` applied; returns
    the configuration that names it."""
    raw = json.loads(LAB_TARGET.read_text()) if LAB_TARGET.exists() else dict(WITHOUT_LAB)
    raw["state_dir"] = str(tmp_path / "state")
    raw.update(changes)
    path = tmp_path / "target.json"
    path.write_text(json.dumps(raw))
    return {"target_file": str(path)}


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
