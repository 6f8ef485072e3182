"""The crash matrix: every kind of fault the toolkit injects, its runner killed outright.

For each kind (service kill, service stop, toxic, override, seed, cache drop, freeze, table
lock, Redis pause, connection slots, read-only database, Redis maxmemory, a flapping
service, a CPU or memory stressor, load): start an experiment that
injects it, and once the ledger shows the fault, send the whole `chaos run` process group
SIGKILL, recover, and check that nothing is left (tests/leftovers.py: every program RUNNING
and none stopped, no toxic, no qdisc, no Locust, no override file, no seeded block, no
holder or its session, no read-only database, Redis taking writes, Redis's maxmemory as configured, no stress-ng process, every ledger empty,
/readyz 200). With SIGHUP (the terminal closed) instead,
nothing may be left without any recovery.

CI runs small experiments built here, one fault each (the same actions the experiments
call), and recovers with `python3 -m gameday.recover`, and once with `make recover` (the
playbook). `make crash-matrix` (COFFEE_CRASH_MATRIX=<results file>) runs the quick
experiments that inject each kind instead, and writes each case's figures there for
docs/results.md (tests/crash_matrix.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest
from cafe_helpers import connect_redis, wait_until
from leftovers import leftovers

from gameday import ledger, registry
from probes.cache import contract_keys
from tests.chaosrun import (
    REPO,
    act,
    experiment,
    hold,
    journal,
    kill,
    launch,
    launch_file,
    py,
    start,
    wait_for,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]

RESULTS_ENV = "COFFEE_CRASH_MATRIX"
FULL = bool(os.environ.get(RESULTS_ENV))
QUICK = str(REPO / "experiments" / "vars" / "quick.yaml")
SYSTEM_PYTHON = "/usr/bin/python3"
SEED = "crash-matrix"


@dataclass(frozen=True)
class Kind:
    """A kind of fault: the ledger entry that shows it, the small experiment that injects it
    (CI) and the quick experiment that does (the full matrix)."""

    name: str
    kind: str
    note: str  # a word of the entry's note that tells this fault from another of its kind
    method: list
    rollbacks: list
    quick_experiment: str


def _action(name: str, provider: dict) -> dict:
    return {"type": "action", "name": name, "provider": provider}


STOP_AGGREGATOR = act("stop-aggregator", "actions.services", "stop_service", service="aggregator")
KINDS = [
    Kind("service kill", "service", "SIGKILL", [kill("redis")], [start("redis")], "kill-redis"),
    Kind(
        "service stop",
        "service",
        "stopped",
        [STOP_AGGREGATOR],
        [start("aggregator")],
        "cache-effectiveness",
    ),
    Kind(
        "toxic",
        "toxic",
        "latency",
        [act("delay-redis", "actions.network", "add_latency", dependency="redis", latency_ms=50)],
        [act("remove", "actions.network", "remove_network_faults", dependency="redis")],
        "delay-redis",
    ),
    Kind(
        "override",
        "override",
        "override",
        [
            act(
                "override",
                "actions.config",
                "override_service_env",
                service="aggregator",
                env={"AGGREGATOR_HOLD_SECONDS": 0},
            )
        ],
        [act("clear", "actions.config", "clear_service_env_override", service="aggregator")],
        "exhaust-api-pool",
    ),
    Kind(
        "seed",
        "seed",
        "seeded",
        [_action("seed", py("actions.seed", "seed_orders", rows=5000, name=SEED, analyze=False))],
        [_action("unseed", py("actions.seed", "remove_seeded_orders", name=SEED))],
        "aggregator-lock-contention",
    ),
    Kind(
        "cache drop",
        "service",
        "dropped",
        [STOP_AGGREGATOR, act("drop", "actions.cache", "drop_dashboard_cache")],
        [start("aggregator")],
        "cache-effectiveness",
    ),
    Kind(
        "freeze",
        "freeze",
        "SIGSTOP",
        [act("freeze-redis", "actions.services", "freeze_service", service="redis")],
        [act("thaw-redis", "actions.services", "thaw_service", service="redis")],
        "freeze-redis",
    ),
    Kind(
        "table lock",
        "holder",
        "LOCK TABLE",
        [act("lock-orders", "actions.postgres", "lock_table", table="orders", hold_s=120)],
        [act("unlock-orders", "actions.postgres", "unlock_table", table="orders")],
        "lock-orders-table",
    ),
    Kind(
        "redis pause",
        "redis_pause",
        "CLIENT PAUSE",
        [act("pause-redis", "actions.redis", "pause_redis", pause_s=120, mode="WRITE")],
        [act("unpause-redis", "actions.redis", "unpause_redis")],
        "pause-redis",
    ),
    Kind(
        "connection slots",
        "holder",
        "connection slot",
        [act("exhaust", "actions.postgres", "exhaust_connections", hold_s=120)],
        [act("release", "actions.postgres", "release_connections")],
        "exhaust-postgres-connections",
    ),
    Kind(
        "read-only database",
        "read_only",
        "default_transaction_read_only",
        [act("read-only", "actions.postgres", "make_read_only")],
        [act("writable", "actions.postgres", "make_writable")],
        "postgres-read-only",
    ),
    Kind(
        "redis maxmemory",
        "redis_maxmemory",
        "maxmemory",
        [act("fill-redis", "actions.redis", "limit_redis_memory", share_of_used=0.5)],
        [act("restore-redis-memory", "actions.redis", "restore_redis_memory")],
        "redis-out-of-memory",
    ),
    Kind(
        "flapping",
        "service",
        "SIGKILL",
        [
            act(
                "flap-redis",
                "actions.services",
                "flap_service",
                service="redis",
                period_s=10,
                down_s=5,
                fault_s=60,
            )
        ],
        [start("redis")],
        "flapping-redis",
    ),
    Kind(
        "cpu stressor",
        "holder",
        "CPU worker",
        [act("starve-cpu", "actions.host", "starve_cpu", hold_s=120, load_pct=20)],
        [act("stop-cpu-stressor", "actions.host", "stop_stressor", stressor="cpu")],
        "cpu-starvation",
    ),
    Kind(
        "memory stressor",
        "holder",
        "MemAvailable",
        [act("take-memory", "actions.host", "take_memory", hold_s=120, share_of_available=0.05)],
        [act("stop-memory-stressor", "actions.host", "stop_stressor", stressor="memory")],
        "memory-pressure",
    ),
    Kind(
        "load",
        "locust",
        "",
        [
            act(
                "load",
                "actions.load",
                "start_load",
                users=2,
                spawn_rate=2,
                duration_s=120,
                user_classes="CoffeeConsumer=1",
            )
        ],
        [act("stop-load", "actions.load", "stop_load")],
        "spike",
    ),
]
RECOVERED_BY_THE_PLAYBOOK = "seed"  # in CI, one kind goes through `make recover` (the playbook)


def _shows(kind: Kind) -> bool:
    books = [ledger.Ledger(d) for d, _ in registry.ledgers()]
    return any(
        e["kind"] == kind.kind and kind.note in e.get("note", "")
        for book in books
        for e in book.entries()
    )


def _crash(kind: Kind, signum: int, tmp_path) -> tuple[object, float]:
    """Start the run, send its process group ``signum`` once the ledger shows the fault;
    return the run and how long the fault took to show."""
    if FULL:
        path = REPO / "experiments" / f"{kind.quick_experiment}.json"
        process = launch_file(path, tmp_path, "--var-file", QUICK)
    else:
        process = launch(experiment([*kind.method, hold(60)], kind.rollbacks), tmp_path)
    began = time.monotonic()
    try:
        wait_for(lambda: _shows(kind), timeout=120, what=f"the {kind.name} in the ledger")
    except AssertionError:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    shown_after = time.monotonic() - began
    os.killpg(process.pid, signum)
    process.wait(timeout=120)
    return process, shown_after


def _recovery(kind: Kind) -> list[str]:
    """The full matrix recovers as users do (`make recover`); CI mostly with the stdlib."""
    if FULL or kind.name == RECOVERED_BY_THE_PLAYBOOK:
        return ["make", "recover"]
    return [SYSTEM_PYTHON, "-m", "gameday.recover"]


def _cache_refilled() -> bool:
    with connect_redis() as client:
        return bool(wait_until(lambda: client.exists(*contract_keys()), timeout=30))


def _record(kind: Kind, signum: int, shown_s: float, recovery: str, recover_s, left) -> None:
    """One case's figures, for docs/results.md (the full matrix only)."""
    if not FULL:
        return
    case = {
        "kind": kind.name,
        "signal": signal.Signals(signum).name,
        "experiment": f"{kind.quick_experiment}.json",
        "fault_shown_s": round(shown_s, 1),
        "recovery": recovery,
        "recover_s": recover_s,
        "left": left,
    }
    with open(os.environ[RESULTS_ENV], "a") as results:
        results.write(json.dumps(case) + "\n")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.replace(" ", "-"))
def test_sigkill_then_recover_leaves_nothing(lab, tmp_path, kind):
    process, shown_s = _crash(kind, signal.SIGKILL, tmp_path)
    assert process.returncode == -signal.SIGKILL
    command, began = _recovery(kind), time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    recover_s = round(time.monotonic() - began, 1)
    left = leftovers(lab)
    _record(kind, signal.SIGKILL, shown_s, " ".join(command), recover_s, left)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert left == {}
    if kind.name == "cache drop":
        assert _cache_refilled()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.replace(" ", "-"))
def test_sighup_leaves_nothing_without_recovery(lab, tmp_path, kind):
    process, shown_s = _crash(kind, signal.SIGHUP, tmp_path)
    left = leftovers(lab)
    _record(kind, signal.SIGHUP, shown_s, "none", None, left)
    assert process.returncode != 0
    assert journal(tmp_path)["status"] == "interrupted"
    assert left == {}
    if kind.name == "cache drop":
        assert _cache_refilled()
