"""The detection matrix: every experiment deviates, on the probe its table names, against the
café flaw it must catch (``CAFE_FLAWS``), and every flaw is caught by some experiment.

CI runs a slice that catches every flaw once (``CI_SLICE``: an experiment may be run with
several of its flaws at once); ``make detection`` runs every pair of the matrix, one flaw at a
time, and writes the results to ``runs/detection/results.jsonl`` for docs/results.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from cafe_flaws import flawed_cafe, kubernetes_only, matrix
from test_experiments import chaos_quick

from tests.chaosrun import REPO

sys.path.insert(0, str(REPO / "cafe"))
from refcafe import flaws as refcafe_flaws  # noqa: E402

RESULTS_ENV = "COFFEE_DETECTION_RESULTS"
CI_SLICE = {
    "kill-redis": [
        "readiness-never-rechecks",
        "500-on-dependency-failure",
        "websocket-stops-after-redis-blip",
    ],
    "kill-postgres": ["no-reconnect"],
    "kill-aggregator": ["short-cache-ttl"],
    "kill-aggregator-mid-pass": ["cache-written-key-by-key"],
    "delay-postgres": ["no-dependency-timeouts"],
    "freeze-redis": ["redis-reads-unbounded"],
    "freeze-postgres": ["postgres-statements-unbounded"],
    "lock-orders-table": ["no-server-statement-timeout"],
    "pause-redis": ["aggregator-stops-after-redis-error"],
    "redis-out-of-memory": ["cache-cleared-before-write"],
    "flapping-redis": ["redis-breaker-never-closes"],
    "spike": ["blocking-handler"],
    "websocket-limits": ["serial-broadcast"],
    "soak": ["memory-per-request"],
    "metrics-cardinality": ["raw-order-labels"],
    "cache-effectiveness": ["cold-cache-crash"],
    "cache-invalidation": ["slow-aggregation"],
    "aggregator-lock-contention": ["table-locking-aggregation"],
    "aggregator-under-pressure": ["aggregator-loads-every-order"],
}
FLAWS = sorted(refcafe_flaws.FLAWS)


def _runs() -> list[tuple[str, list[str]]]:
    if os.environ.get(RESULTS_ENV):
        return [(name, [flaw]) for name, flaws in matrix().items() for flaw in flaws]
    return list(CI_SLICE.items())


def test_every_experiment_catches_a_flaw_and_every_flaw_is_caught():
    table = matrix()
    assert all(table.values()), [name for name, flaws in table.items() if not flaws]
    caught = {flaw for flaws in table.values() for flaw in flaws}
    assert caught == set(FLAWS), f"never caught: {set(FLAWS) - caught}"


def test_every_kubernetes_only_experiment_says_why_it_is_out_of_the_matrix():
    """The lab has no pods and no autoscaler: an experiment that needs them is left out of the
    matrix only with its reason, and declares no flaw it could not be shown to catch."""
    left_out = kubernetes_only()
    assert set(left_out) == {"hpa-spike", "kill-api-pod-under-load"}
    assert all(len(why) > 80 for why in left_out.values()), left_out
    assert not set(left_out) & set(matrix())


def test_the_ci_slice_catches_every_flaw_once_with_the_matrix_probes():
    table = matrix()
    for name, flaws in CI_SLICE.items():
        assert set(flaws) <= set(table[name]), name
    sliced = [flaw for flaws in CI_SLICE.values() for flaw in flaws]
    assert sorted(sliced) == FLAWS


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.parametrize(
    ("experiment", "flaws"), _runs(), ids=lambda v: ",".join(v) if isinstance(v, list) else v
)
def test_the_experiment_deviates_on_the_probe_that_catches_the_flaw(
    lab, tmp_path, experiment, flaws
):
    expected = {flaw: matrix()[experiment][flaw] for flaw in flaws}
    with flawed_cafe(lab, flaws):
        code, journal = chaos_quick(experiment, tmp_path)
    facts = journal.get("coffee_chaos", {})
    unmet = {item["name"] for item in facts.get("unmet_expectations", [])}
    _record(experiment, flaws, expected, unmet, journal)
    # "failed" is Chaos Toolkit's status when a probe of the closing hypothesis raised (a
    # /readyz that timed out): a deviation too; the run still went through its rollbacks.
    went_through = journal["status"] in ("completed", "failed")
    assert code != 0 and went_through and journal["deviated"], (
        f"{experiment} with {flaws}: status {journal['status']}, deviated "
        f"{journal['deviated']}, failed actions {facts.get('failed_actions')}"
    )
    missed = {flaw: probe for flaw, probe in expected.items() if probe not in unmet}
    assert not missed, f"{experiment} did not catch {missed} (unmet: {sorted(unmet)})"
    assert journal["rollbacks"], "the rollbacks ran"


def _record(experiment: str, flaws: list[str], expected: dict, unmet: set, journal: dict) -> None:
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    line = {
        "experiment": experiment,
        "flaws": flaws,
        "expected": expected,
        "caught": {flaw: probe in unmet for flaw, probe in expected.items()},
        "unmet": sorted(unmet),
        "status": journal["status"],
        "duration_s": round(journal.get("duration") or 0, 1),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as results:
        results.write(json.dumps(line) + "\n")
