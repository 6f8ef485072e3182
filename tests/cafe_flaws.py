"""A café with switchable flaws (``CAFE_FLAWS``), as the ``cafe`` role deploys one.

The role writes ``/etc/coffee-chaos/flaws.env`` from ``cafe_flaws`` and the
programs' wrappers source it; ``flawed_cafe`` does the same for one test: it
writes the file, restarts the API and the aggregator, waits until the café is
ready, and on the way out writes it back as the role does with no flaw
(``CAFE_FLAWS=``) and restarts them healthy again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from conftest import wait_ready

from gameday import services
from gameday.target import Target

FLAWS_FILE = Path("/etc/coffee-chaos/flaws.env")
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def catches(experiment: str) -> dict[str, str]:
    """The flaws ``experiment`` must catch and the probe that must fail on each."""
    body = json.loads((EXPERIMENTS / f"{experiment}.json").read_text())
    (ours,) = [e for e in body.get("extensions", []) if e.get("name") == "coffee-chaos"]
    return ours["catches"]


def matrix() -> dict[str, dict[str, str]]:
    """Every experiment's flaws to catch, by experiment, but those that run on Kubernetes
    only (``kubernetes_only``): the matrix runs on the supervisor lab."""
    return {
        path.stem: catches(path.stem)
        for path in sorted(EXPERIMENTS.glob("*.json"))
        if path.stem not in kubernetes_only()
    }


def kubernetes_only() -> dict[str, str]:
    """The experiments that run on Kubernetes only, and why they are out of the matrix."""
    found = {}
    for path in sorted(EXPERIMENTS.glob("*.json")):
        body = json.loads(path.read_text())
        (ours,) = [e for e in body.get("extensions", []) if e.get("name") == "coffee-chaos"]
        if ours.get("platforms") == ["kubernetes"]:
            found[path.stem] = ours.get("not_in_the_matrix_because", "")
    return found


@contextlib.contextmanager
def flawed_cafe(target: Target, flaws: list[str]) -> Iterator[None]:
    """The lab's café running with ``flaws`` for the duration of the block."""
    FLAWS_FILE.write_text(f"CAFE_FLAWS={','.join(flaws)}\n")
    try:
        _restart(target)
        yield
    finally:
        FLAWS_FILE.write_text("CAFE_FLAWS=\n")
        _restart(target)


def _restart(target: Target) -> None:
    for name in ("api", "aggregator"):
        services.restart(name, target)
    if not wait_ready(target, timeout_s=60):
        raise AssertionError(f"the café at {target.api_url} is not ready after a restart")
