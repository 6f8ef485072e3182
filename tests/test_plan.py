"""Game-day plans: the shipped ones load, and every mistake is refused naming its line."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest

from gameday import cli, estimate
from gameday.plan import PlanError, load_plan
from tests.target_files import write_target

REPO = Path(__file__).resolve().parent.parent
FAILURE_EXPERIMENTS = {
    "kill-redis",
    "kill-postgres",
    "kill-aggregator",
    "kill-aggregator-mid-pass",
    "delay-redis",
    "delay-postgres",
}


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_the_quick_plan_runs_every_failure_experiment_in_the_quick_profile():
    plan = load_plan(Path("plans/quick.yaml"))
    assert {e.name for e in plan.experiments} == FAILURE_EXPERIMENTS
    assert {e.profile for e in plan.experiments} == {"quick"}
    assert plan.settle_s > 0 and plan.on_deviation == "continue"


def _kubernetes_only(path: Path) -> bool:
    extensions = json.loads(path.read_text()).get("extensions", [])
    return any(e.get("platforms") == ["kubernetes"] for e in extensions)


def test_the_full_plan_runs_every_lab_experiment_at_full_defaults_for_3_to_4_hours():
    plan = load_plan(Path("plans/full.yaml"))
    shipped = {p.stem for p in Path("experiments").glob("*.json") if not _kubernetes_only(p)}
    assert {e.name for e in plan.experiments} == shipped
    assert {e.profile for e in plan.experiments} == {None}
    names = [e.name for e in plan.experiments]
    searched = names.index("capacity-search")
    assert searched < names.index("sustained-80") and searched < names.index("spike"), (
        "sustained-80 and spike need the capacity it saves"
    )
    assert plan.background_load == {
        "users": 2,
        "spawn_rate": 2.0,
        "user_classes": "DashboardViewer=1",
    }


def test_the_grey_plan_runs_the_grey_failures_and_the_api_crash_at_full_defaults():
    plan = load_plan(Path("plans/grey.yaml"))
    grey = set(importlib.import_module("experiments.families.grey").CATCHES)
    network = {"reset-redis-connections", "reset-postgres-connections", "bandwidth-postgres"}
    assert {e.name for e in plan.experiments} == grey - network | {"kill-api"}
    assert {e.profile for e in plan.experiments} == {None}


def _plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


GOOD = """session:
  title: T
experiments:
  - experiment: kill-redis
    vars:
      fault_s: 30
"""


@pytest.mark.parametrize(
    ("text", "line", "named"),
    [
        (GOOD.replace("kill-redis", "kill-memcached"), 4, "unknown experiment 'kill-memcached'"),
        (
            GOOD.replace("  title: T", "  title: T\n  colour: red"),
            3,
            "unknown key 'colour' in `session`",
        ),
        (GOOD + "cooldown: 5\n", 7, "unknown key 'cooldown'; known keys: background_load"),
        (GOOD.replace("fault_s: 30", "fault_s: -30"), 6, "fault_s must not be negative"),
        (
            GOOD.replace("fault_s: 30", "faults_s: 30"),
            6,
            "kill-redis does not declare the var 'faults_s'",
        ),
        (GOOD + "cooldown_s: -1\n", 7, "cooldown_s must be a number of seconds >= 0"),
        (GOOD + "gate: {settle_s: -2}\n", 7, "settle_s must be a number of seconds >= 0"),
        (GOOD + "on_deviation: panic\n", 7, "on_deviation must be one of continue, stop, ask"),
        (GOOD + "profile: quik\n", 7, "unknown profile 'quik'"),
        (GOOD.replace("    vars:", "    weight: 0\n    vars:"), 5, "weight must be a number > 0"),
        (GOOD + "background_load: {user_classes: Robot=1}\n", 7, "unknown user class 'Robot'"),
        ("session: {title: T}\nexperiments: []\n", 2, "must list at least one experiment"),
        (GOOD + "  - kill-redis\n  - kill-redsi\n", 8, "unknown experiment 'kill-redsi'"),
        (GOOD + "  - 42\n", 7, "each experiment is a name or {experiment"),
    ],
)
def test_a_bad_plan_is_refused_naming_its_line(tmp_path, text, line, named):
    with pytest.raises(PlanError) as exc:
        load_plan(_plan(tmp_path, text))
    message = str(exc.value)
    assert f"plan.yaml:{line}:" in message and named in message, message


def test_a_bad_plan_is_refused_by_gameday_run_before_anything_runs(tmp_path, capsys):
    plan = _plan(tmp_path, GOOD.replace("fault_s: 30", "faults_s: 30"))
    runs = tmp_path / "runs"
    assert cli.main(["run", "--runs-dir", str(runs), str(plan)]) == 2
    assert "plan.yaml:6: kill-redis does not declare the var 'faults_s'" in capsys.readouterr().err
    assert not runs.exists(), "nothing may be created for a refused plan"


def test_a_kubernetes_only_experiment_is_refused_on_the_lab_naming_its_line(tmp_path, capsys):
    target = write_target(tmp_path, platform="supervisor")["target_file"]
    plan = _plan(tmp_path, GOOD + "  - kill-redis\n  - hpa-spike\n")
    runs = tmp_path / "runs"
    assert cli.main(["--target", target, "run", "--runs-dir", str(runs), str(plan)]) == 2
    err = capsys.readouterr().err
    assert "plan.yaml:8: hpa-spike runs on kubernetes only and the target is supervisor" in err
    assert cli.main(["--target", target, "run", "experiments/kill-api-pod-under-load.json"]) == 2
    assert "kill-api-pod-under-load.json: kill-api-pod-under-load runs on kubernetes" in (
        capsys.readouterr().err
    )
    assert not runs.exists(), "nothing may be created for a refused plan"


def test_ask_on_deviation_is_refused_without_a_terminal(tmp_path, capsys, monkeypatch):
    target = write_target(tmp_path)["target_file"]
    plan = _plan(tmp_path, GOOD + "on_deviation: ask\n")
    runs = tmp_path / "runs"
    with open(os.devnull) as not_a_terminal:
        monkeypatch.setattr("sys.stdin", not_a_terminal)
        assert cli.main(["--target", target, "run", "--runs-dir", str(runs), str(plan)]) == 2
    assert "on_deviation: ask needs an interactive terminal" in capsys.readouterr().err
    assert not runs.exists()


def test_a_var_no_experiment_declares_is_refused(tmp_path, capsys):
    runs = tmp_path / "runs"
    for given in (["plans/quick.yaml"], ["experiments/kill-redis.json"]):
        args = ["run", "--runs-dir", str(runs), "--var", "faults_s:int=30", *given]
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert "--var 'faults_s:int=30': no experiment of the session declares 'faults_s'" in err
    assert not runs.exists()
    assert load_plan(Path("plans/quick.yaml"), ["fault_s:int=30"]).cli_vars == ["fault_s:int=30"]
    engine = ["netem_interface=eth0"]  # read by the engine, declared by no experiment
    assert load_plan(Path("plans/quick.yaml"), engine).cli_vars == engine


def test_a_plan_and_experiment_files_do_not_mix(tmp_path, capsys):
    args = ["run", "--runs-dir", str(tmp_path), "plans/quick.yaml", "experiments/kill-redis.json"]
    assert cli.main(args) == 2
    assert "give it alone" in capsys.readouterr().err


def test_the_estimate_adds_the_method_pauses_as_the_plan_configures_them(tmp_path):
    (planned,) = load_plan(_plan(tmp_path, GOOD)).experiments
    longer = estimate.duration_s(planned)
    planned.variables["fault_s"] = 60
    assert estimate.duration_s(planned) == longer + 30  # kill-redis waits fault_s once
