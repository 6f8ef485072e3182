"""Shared fixtures: the real lab, and a check that a test left it clean; the FAKE Kubernetes
API server's (kube_fixtures: cluster, k8s)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from kube_fixtures import cluster, k8s  # noqa: F401 (fixtures of the Kubernetes tests)
from target_files import write_target

from gameday import freeze, ledger, recover, registry, services, stress
from gameday.target import Target, load_target

LAB_SERVICES = ("postgresql", "redis", "api", "aggregator")


def lab_state(target: Target) -> dict:
    """What must hold between experiments: services up, nothing injected, no load."""
    state = {
        "not_running": [
            name for name in LAB_SERVICES if services.status(name, target).get("state") != "RUNNING"
        ],
        "ledger": _faults_on_the_machine(target),
        "locust": [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if _is_locust(p.info["cmdline"], target.api_url)
        ],
        "toxics": [],
        "qdiscs": [],
        "stressors": [f"{p.pid} {p.command}" for p in stress.running()],
        "frozen": [
            name
            for name in LAB_SERVICES
            if freeze.frozen([services.status(name, target).get("pid") or 0])
        ],
    }
    try:
        proxies = requests.get(f"{target.faultproxy_url}/proxies", timeout=2).json()
        state["toxics"] = [
            f"{name}:{toxic['name']}"
            for name, proxy in proxies.items()
            for toxic in proxy["toxics"]
        ]
    except requests.RequestException:
        pass
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    state["qdiscs"] = [line for line in qdiscs.splitlines() if "netem" in line]
    return state


def _faults_on_the_machine(target: Target) -> list[str]:
    """Every entry of every ledger of the machine (a test's own target file's too: admission
    refuses every run while one holds a fault)."""
    books = {ledger.ledger_for(target).directory.resolve(): ledger.ledger_for(target)}
    for directory, _ in registry.ledgers():
        books.setdefault(directory.resolve(), ledger.Ledger(directory))
    return [
        f"{e['kind']} {e['subject']}"
        + ("" if book.directory == target.ledger_dir else f" in {book.directory}")
        for book in books.values()
        for e in book.entries()
    ]


def _is_locust(cmdline: list[str] | None, host: str) -> bool:
    """A Locust run loading ``host``: `python -m locust ... --host <host>` or the `locust`
    script (a run against a test's own server elsewhere on the machine is not the lab's)."""
    argv = cmdline or []
    locust = (argv[1:3] == ["-m", "locust"]) or (bool(argv) and argv[0].endswith("/locust"))
    return locust and host in argv


def wait_ready(target: Target, timeout_s: float = 30) -> bool:
    """Wait until the API's /readyz answers 200 (a dependency restarted by the previous
    test may still be reconnecting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{target.api_url}/readyz", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.25)
    return False


def _restore(target: Target) -> None:
    """What `make recover` does: programs up, stopped processes continued, every ledger of
    the machine reverted (a test's own target file's too)."""
    recover.recover(target)


@pytest.fixture(autouse=True)
def _registry_of_its_own(request, tmp_path_factory, monkeypatch) -> None:
    """A test that needs no lab gets a machine registry of its own: its kill switch, run
    lock and ledgers never reach the lab's (nor the lab's `make recover`)."""
    if request.node.get_closest_marker("lab") is None:
        monkeypatch.setenv(registry.REGISTRY_ENV, str(tmp_path_factory.mktemp("registry")))


@pytest.fixture(autouse=True)
def _scratch_ledgers_reverted(request, tmp_path_factory):
    """After a lab test, revert the ledgers of the target files it wrote in its temporary
    directory (a toxic it injected through its own target is on the lab's real proxy)."""
    yield
    if request.node.get_closest_marker("lab") is None:
        return
    scratch = tmp_path_factory.getbasetemp().resolve()
    for directory, target_file in registry.ledgers():
        if scratch in directory.resolve().parents and target_file and target_file.exists():
            ledger.recover(load_target({"target_file": str(target_file)}))
            registry.forget(directory)


@pytest.fixture
def cafe() -> None:
    """Wait (bounded) for the café to be ready: other lab tests stop and restart it."""
    target = load_target()
    if not wait_ready(target, timeout_s=60):
        pytest.fail(f"the café at {target.api_url} is not ready after 60 s: `supervisorctl status`")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Target:
    """The provisioned lab; the test must leave it exactly as clean as it found it."""
    if request.node.get_closest_marker("lab") is None:
        pytest.fail('a test that uses the lab must be marked lab (`-m "not lab"` ran it)')
    target = load_target()
    assert wait_ready(target), f"{target.api_url}/readyz did not answer 200 within 30 s"
    before = lab_state(target)
    clean = {
        "not_running": [],
        "ledger": [],
        "locust": [],
        "toxics": [],
        "qdiscs": [],
        "stressors": [],
        "frozen": [],
    }
    if before != clean:
        _restore(target)  # one test fails for it, not every test after it
        pytest.fail(f"the lab was not clean before the test (restored now): {before}")
    yield target
    after = lab_state(target)
    if any(after.values()):
        _restore(target)
    wait_ready(target)
    assert not any(after.values()), f"the test left the lab dirty: {after}"


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    """The lab through a target file under tmp_path (its ledger there); whatever the test
    left in that ledger is reverted after it."""
    lab = load_target(write_target(tmp_path))
    yield lab
    ledger.recover(lab)
