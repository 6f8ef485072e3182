"""The probes that read process facts, on Kubernetes, against a FAKE API server (no real one
can run here): they judge from the pods' status where it tells (uptime of the youngest ready
container) and answer "not available" instead of deviating where it does not (RSS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from chaoslib.exceptions import ActivityFailed
from kube_fixtures import kubernetes_configuration

from controls.evidence import NOT_AVAILABLE
from gameday import services, soak
from gameday.target import load_target
from probes import process
from probes.services import api_not_restarted_during_load


@pytest.fixture
def configuration(tmp_path, cluster):
    return kubernetes_configuration(tmp_path)


def _load_began(configuration, seconds_ago: float) -> None:
    """Record a load run that began ``seconds_ago`` (what actions.load.start_load writes)."""
    target = load_target(configuration)
    began = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    path = target.state_dir / "load" / "current.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"started_at": began.isoformat(timespec="seconds")}))


def test_process_figures_are_not_available_on_pods_and_say_why(configuration):
    usage = process.process_usage("api", configuration=configuration)
    assert "kubernetes platform gives no process memory" in usage[NOT_AVAILABLE]
    assert usage["ready"] == 2 and usage["restarts"] == 0 and len(usage["pods"]) == 2
    over = process.process_usage_over(
        "aggregator", duration_s=1, max_peak_growth_mb=0, configuration=configuration
    )
    assert NOT_AVAILABLE in over, "an expectation it cannot judge does not deviate"


def test_the_api_not_restarted_is_judged_from_the_pods(cluster, configuration):
    _load_began(configuration, seconds_ago=0)
    cluster.pods.update(
        {name: {**pod, "_ready_at": pod["_ready_at"] - 30} for name, pod in cluster.pods.items()}
    )
    judged = api_not_restarted_during_load(configuration=configuration)
    assert judged["platform"] == "kubernetes" and judged["uptime"] >= 29


def test_a_replaced_api_pod_counts_as_a_restart(cluster, configuration):
    _load_began(configuration, seconds_ago=60)
    cluster.pods.update(
        {name: {**pod, "_ready_at": pod["_ready_at"] - 600} for name, pod in cluster.pods.items()}
    )
    cluster.start_delay_s = 0.1
    services.kill_one_pod("api", load_target(configuration), timeout_s=5)
    with pytest.raises(ActivityFailed) as exc:
        api_not_restarted_during_load(configuration=configuration)
    assert "unrestarted; observed RUNNING for" in str(exc.value)


def test_a_soak_without_process_memory_judges_the_rest_and_says_what_it_could_not():
    reason = "process figures of api: the kubernetes platform gives no process memory"
    samples = [
        {
            "t": t,
            "postgres_connections": 10,
            "prometheus_head_series": 5000,
            "orders_created_series": 12,
            NOT_AVAILABLE: {"api_rss_bytes": reason, "aggregator_rss_bytes": reason},
        }
        for t in (0, 600, 1200)
    ]
    limits = {
        "rss_noise_mb": 16,
        "max_rss_slope_mb_per_h": 16,
        "max_connection_growth": 5,
        "max_series_growth": 1000,
    }
    judged = soak.judge(samples, limits)
    assert judged["breaches"] == []
    assert judged["not_judged"] == [
        f"API resident memory: {reason}",
        f"aggregator resident memory: {reason}",
    ]
    samples[-1]["postgres_connections"] = 40
    assert "grew by" in soak.judge(samples, limits)["breaches"][0], "the rest is still judged"
