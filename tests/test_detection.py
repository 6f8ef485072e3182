"""The detection matrix: every experiment deviates, on the probe its table names, against the
café flaw it must catch (``CAFE_FLAWS``), and every flaw is caught by some experiment.

CI runs a slice with one experiment of each kind (``CI_SLICE``: an experiment may be run with
several of its flaws at once); ``make detection`` runs every pair of the matrix, one flaw at a
time, and writes the results to ``runs/detection/results.jsonl`` for docs/results.md.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest
from cafe_flaws import flawed_cafe, kubernetes_only, matrix
from target_files import write_target
from test_experiments import chaos_quick
from test_load_experiments import search_capacity

from gameday.capacityfile import format_record
from tests.chaosrun import REPO
from tests.known_limit import known_limit_cafe

sys.path.insert(0, str(REPO / "cafe"))
from refcafe import flaws as refcafe_flaws  # noqa: E402

RESULTS_ENV = "COFFEE_DETECTION_RESULTS"
# CI's slice: one run of each kind of experiment (its family and fault), against the flaws
# that kind must catch; `make detection` runs every pair of the matrix.
CI_SLICE = {
    "kill-redis": [  # a dependency killed
        "readiness-never-rechecks",
        "500-on-dependency-failure",
        "websocket-stops-after-redis-blip",
    ],
    "kill-aggregator-mid-pass": ["cache-written-key-by-key"],  # the aggregator killed
    "delay-postgres": ["no-dependency-timeouts"],  # a dependency slowed
    "freeze-redis": ["redis-reads-unbounded"],  # a grey failure
    "websocket-limits": ["serial-broadcast"],  # a load shape
    "cache-invalidation": ["slow-aggregation"],  # a data experiment
}
FAMILIES = {"failure": 3, "grey": 1, "load": 1, "data": 1}
# Experiments that load a share of a searched capacity. The lab's café shares the machine's two
# cores with Locust, so a search there ends "limited by the load generator" and saves none:
# these run on the café of known limit instead, searched healthy, then started with the flaw.
ON_A_SEARCHED_CAPACITY = {"sustained-80"}
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


def test_the_ci_slice_runs_each_kind_of_experiment_once_with_the_matrix_probes():
    table = matrix()
    for name, flaws in CI_SLICE.items():
        assert set(flaws) <= set(table[name]), name
    assert sorted(map(_family, CI_SLICE)) == sorted(
        family for family, count in FAMILIES.items() for _ in range(count)
    )


def _family(experiment: str) -> str:
    """The family module (experiments/families/) that builds ``experiment``."""
    for family in FAMILIES:
        if experiment in importlib.import_module(f"experiments.families.{family}").CATCHES:
            return family
    raise AssertionError(f"{experiment} is in no family")


@pytest.mark.lab
@pytest.mark.e2e
@pytest.mark.parametrize(
    ("experiment", "flaws"), _runs(), ids=lambda v: ",".join(v) if isinstance(v, list) else v
)
def test_the_experiment_deviates_on_the_probe_that_catches_the_flaw(
    lab, tmp_path, monkeypatch, experiment, flaws
):
    expected = {flaw: matrix()[experiment][flaw] for flaw in flaws}
    if experiment in ON_A_SEARCHED_CAPACITY:
        code, journal = _on_a_searched_capacity(experiment, flaws, tmp_path, monkeypatch)
    else:
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


def _on_a_searched_capacity(experiment, flaws, tmp_path, monkeypatch) -> tuple[int, dict]:
    """``experiment`` on a café of known limit with ``flaws``, at the capacity a search
    measured on that café healthy (as a release with the flaw would meet it). Its answers
    are held 20 ms (10 connections: about 400 orders/s), so that an order of the flawed café
    stays within the steady state's P99 before the load (20 ms + a flaw's 100 ms)."""
    healthy, flawed = tmp_path / "healthy", tmp_path / "flawed"
    for workdir in (healthy, flawed):
        workdir.mkdir()
    with known_limit_cafe(healthy, pool=10, delay_ms=20) as cafe:
        record, saved = search_capacity(healthy, monkeypatch, cafe)
    assert record["limited_by"] == "target", format_record(record)
    with known_limit_cafe(flawed, pool=10, delay_ms=20, flaws=",".join(flaws)) as cafe:
        target = write_target(flawed, api_url=cafe.url)
        monkeypatch.setenv("COFFEE_CHAOS_TARGET", target["target_file"])
        return chaos_quick(experiment, flawed, "--var", f"capacity_file:str={saved}")


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
