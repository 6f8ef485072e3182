"""Network faults through Chaos Mesh (gameday.chaosmesh, chaosk8s.chaosmesh) against a FAKE
API server: no Kubernetes API server can run on this machine. The fake stores NetworkChaos
custom objects as the API server does; whether Chaos Mesh then delays packets is not tested
here (it needs a cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaoslib.activity import run_activity
from chaoslib.exceptions import ActivityFailed
from kube_fixtures import kubernetes_configuration

from actions import network
from gameday import cli, ledger
from gameday.target import TARGET_ENV, load_target

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


@pytest.fixture
def configuration(tmp_path, cluster):
    return kubernetes_configuration(tmp_path)


def test_latency_is_a_network_chaos_from_the_api_pods_to_the_dependency(cluster, configuration):
    result = network.add_latency(
        "redis", latency_ms=300, jitter_ms=100, configuration=configuration
    )
    assert (
        result["backend"] == "chaosmesh" and result["networkchaos"] == "coffee-chaos-latency-redis"
    )
    created = cluster.custom["coffee-chaos-latency-redis"]
    spec = created["spec"]
    assert spec["action"] == "delay" and spec["delay"] == {"latency": "300ms", "jitter": "100ms"}
    assert spec["selector"] == {"namespaces": ["coffee"], "labelSelectors": {"app": "coffee-api"}}
    assert spec["mode"] == "all" and spec["direction"] == "to"
    assert spec["target"] == {
        "mode": "all",
        "selector": {"namespaces": ["coffee"], "labelSelectors": {"app": "redis"}},
    }
    [entry] = ledger.ledger_for(load_target(configuration)).entries()
    assert entry["kind"] == "networkchaos" and entry["revert"]["name"] == result["networkchaos"]


def test_a_stall_drops_every_packet_and_removal_deletes_both(cluster, configuration):
    network.add_latency("postgresql", latency_ms=300, configuration=configuration)
    network.add_timeout("postgresql", configuration=configuration)
    stall = cluster.custom["coffee-chaos-timeout-postgresql"]["spec"]
    assert stall["action"] == "loss" and stall["loss"] == {"loss": "100"}
    result = network.remove_network_faults("postgresql", configuration=configuration)
    [removed] = result["removed"]
    assert {r["networkchaos"] for r in removed["removed"]} == {
        "coffee-chaos-latency-postgresql",
        "coffee-chaos-timeout-postgresql",
    }
    assert cluster.custom == {} and len(cluster.calls("DELETE", "/networkchaos/")) == 2
    assert ledger.ledger_for(load_target(configuration)).entries() == []
    # the report's fault windows close on these marks
    assert [r["kind"] for r in result["reverts"]] == ["networkchaos", "networkchaos"]


def test_a_left_over_object_of_ours_is_removed_too(cluster, configuration):
    network.add_latency("redis", latency_ms=300, configuration=configuration)
    ledger.ledger_for(load_target(configuration)).resolve(
        ledger.ledger_for(load_target(configuration)).entries()[0]["id"]
    )  # a run that died between creating it and recording nothing else
    cluster.custom["someone-elses"] = {"metadata": {"name": "someone-elses"}, "spec": {}}
    network.remove_network_faults(configuration=configuration)
    assert list(cluster.custom) == ["someone-elses"]


def test_recover_deletes_what_the_ledger_holds_and_a_second_recover_does_nothing(
    cluster, configuration, monkeypatch, capsys
):
    network.add_latency("redis", latency_ms=300, configuration=configuration)
    monkeypatch.setenv(TARGET_ENV, configuration["target_file"])
    assert cli.main(["recover"]) == 0
    assert "reverted networkchaos redis" in capsys.readouterr().out
    assert cluster.custom == {}
    assert cli.main(["recover"]) == 0
    assert "Nothing to recover" in capsys.readouterr().out


def test_delay_redis_runs_unchanged_its_fault_and_its_rollback(cluster, configuration):
    body = json.loads((EXPERIMENTS / "delay-redis.json").read_text())
    config = {**body["configuration"], **configuration}
    activities = {activity["name"]: activity for activity in body["method"]}
    run_activity(activities["add-latency-to-redis"], config, None)
    run_activity(activities["add-timeout-to-redis"], config, None)
    assert set(cluster.custom) == {"coffee-chaos-latency-redis", "coffee-chaos-timeout-redis"}
    (rollback,) = [r for r in body["rollbacks"] if r["ref"].startswith("remove-faults")]
    run_activity(activities[rollback["ref"]], config, None)
    assert cluster.custom == {}
    assert ledger.ledger_for(load_target(configuration)).entries() == []


def test_without_chaos_mesh_the_fault_is_refused_and_nothing_is_recorded(cluster, configuration):
    cluster.chaos_mesh = False
    with pytest.raises(ActivityFailed) as exc:
        network.add_latency("redis", latency_ms=300, configuration=configuration)
    assert "Not Found" in str(exc.value) and "is Chaos Mesh installed" in str(exc.value)
    assert ledger.ledger_for(load_target(configuration)).entries() == []
    result = network.remove_network_faults("redis", configuration=configuration)
    assert result["removed"][0]["removed"] == [] and "reverts" not in result


def test_reset_is_refused_on_chaos_mesh(cluster, configuration):
    with pytest.raises(ActivityFailed) as exc:
        network.reset_connections("redis", configuration=configuration)
    assert "Chaos Mesh cannot reset connections" in str(exc.value)


def test_make_recover_on_a_kubernetes_target_deletes_the_chaos_mesh_objects(cluster, configuration):
    import os
    import subprocess

    network.add_latency("redis", latency_ms=300, configuration=configuration)
    env = {**os.environ, TARGET_ENV: configuration["target_file"]}
    done = subprocess.run(
        ["make", "-s", "recover"],
        cwd=EXPERIMENTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "reverted networkchaos redis" in done.stdout and "ansible" not in done.stdout
    assert cluster.custom == {}
