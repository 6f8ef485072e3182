"""`chaos discover` lists the toolkit's activities, and only activities."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess

import pytest

from tests.chaosrun import CHAOS

MODULES = [
    f"{package}.{module.name}"
    for package in ("actions", "probes")
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__)
]


@pytest.mark.parametrize("module", MODULES)
def test_all_lists_only_activities(module):
    loaded = importlib.import_module(module)
    for name in loaded.__all__:
        activity = getattr(loaded, name)
        assert inspect.isfunction(activity), f"{module}.{name} is not a function"
        parameters = list(inspect.signature(activity).parameters)
        assert parameters[-2:] == ["configuration", "secrets"], f"{module}.{name}: {parameters}"


def test_chaos_discover_lists_every_action_and_probe(tmp_path):
    result = subprocess.run(
        [CHAOS, "discover", "--no-install", "--no-system-info", "coffee-chaos"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads((tmp_path / "discovery.json").read_text())["activities"]
    names = {(a["mod"], a["name"], a["type"]) for a in found}
    assert ("actions.services", "kill_service", "action") in names
    assert ("probes.load", "load_within", "probe") in names
    expected = sum(len(importlib.import_module(m).__all__) for m in MODULES)
    assert len(names) == expected
