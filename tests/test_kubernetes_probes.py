"""The Kubernetes-only experiments' probes (probes.autoscaling, probes.pods) against a FAKE
API server (no real one can run here) whose HPA follows a plan the test gives, and a live
statistics file written second by second as Locust writes it."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from chaoslib.exceptions import ActivityFailed
from kube_fixtures import kubernetes_configuration

from actions.services import kill_one_pod
from gameday import kube
from probes import autoscaling, pods

ORDERS = "/api/v1/order"


class Live:
    """A load run's live file, one line per second, answered as ``second(t)`` says."""

    def __init__(self, configuration: dict, tmp_path) -> None:
        self.path = tmp_path / "live.jsonl"
        at_a_second_start()  # the whole seconds the probes count begin now, not up to 1 s ago
        self.began = time.time() - 2  # two seconds already written when a probe first looks
        state = json.loads(open(configuration["target_file"]).read())["state_dir"]
        current = tmp_path / "state" / "load" / "current.json"
        assert str(current).startswith(state)
        current.parent.mkdir(parents=True, exist_ok=True)
        current.write_text(
            json.dumps(
                {
                    "run_dir": str(tmp_path),
                    "live_file": str(self.path),
                    "started_at": datetime.fromtimestamp(self.began, UTC).isoformat(),
                }
            )
        )
        self.failures: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()
        while not self._written(2):  # the file exists before its first line is written
            time.sleep(0.05)

    def _written(self, lines: int) -> bool:
        return self.path.exists() and self.path.read_text().count("\n") >= lines

    def _write(self) -> None:
        t = int(self.began)
        while not self.stop.is_set():
            while t < int(time.time()):
                failed = self.failures.get(t, 0)
                second = {
                    "count": 20,
                    "failures": failed,
                    "codes": {"200": 20 - failed, **({"0": failed} if failed else {})},
                    "hist": {"20": 20},
                }
                with open(self.path, "a") as live:
                    live.write(json.dumps({"t": t, "by_name": {ORDERS: second}}) + "\n")
                t += 1
            time.sleep(0.1)


def at_a_second_start() -> None:
    """Sleep until a new second has just begun (timings below are judged in whole seconds)."""
    time.sleep(1.02 - time.time() % 1)


@pytest.fixture
def live(tmp_path, cluster):
    configuration = kubernetes_configuration(tmp_path)
    writer = Live(configuration, tmp_path)
    yield configuration, writer
    writer.stop.set()


def test_a_scale_out_and_in_within_bounds_passes_every_probe(cluster, live):
    configuration, _ = live
    cluster.start_delay_s = 1.0
    cluster.plan_hpa("coffee-api", [(1.0, 4, 90), (7.0, 2, 10)])
    out = autoscaling.scales_out_within(2, within_s=10, poll_s=0.2, configuration=configuration)
    assert out["initial_replicas"] == 2 and out["peak_desired"] == 4
    # the plan raises desired replicas 1 s in; polls on a busy machine may see it a second late
    assert 0.5 <= out["desired_rose_after_s"] <= 3.5 and out["ready_after_s"] >= 1.8
    assert [s["desired"] for s in out["timeline"]][:2] == [2, 4]
    answers = autoscaling.answers_during_scale_out(configuration=configuration)
    assert answers["codes"] == {"200": answers["count"]} and answers["count"] > 0
    p99 = autoscaling.p99_after_scale_out(window_s=2, p99_ms=200, configuration=configuration)
    assert p99["p99_ms"] <= 200
    scaled_in = autoscaling.scales_in_after_drop(
        8, within_s=10, poll_s=0.2, configuration=configuration
    )
    assert scaled_in["to_replicas"] == 2 and scaled_in["requests"]["failures"] == 0


def test_an_autoscaler_that_never_scales_out_deviates_with_its_cpu(cluster, live):
    configuration, _ = live
    with pytest.raises(ActivityFailed) as exc:
        autoscaling.scales_out_within(0, within_s=2, poll_s=0.2, configuration=configuration)
    assert "desired replicas stayed 2 (CPU 20 % of the request)" in str(exc.value)


def test_failed_requests_during_the_scale_in_deviate(cluster, live):
    configuration, writer = live
    cluster.plan_hpa("coffee-api", [(0.5, 3, 90), (3.0, 2, 10)])
    autoscaling.scales_out_within(2, within_s=5, poll_s=0.2, configuration=configuration)
    writer.failures.update({int(writer.began) + i: 2 for i in range(5, 11)})
    with pytest.raises(ActivityFailed) as exc:
        autoscaling.scales_in_after_drop(5, within_s=8, poll_s=0.2, configuration=configuration)
    assert "with at most 0 failed requests" in str(exc.value) and "failed" in str(exc.value)


def test_a_pod_kill_within_its_share_passes(cluster, live, monkeypatch):
    configuration, writer = live
    cluster.endpoint_lag_s, cluster.start_delay_s = 1.0, 1.0
    terminate = kube.terminate

    def failing_as_it_dies(*args, **kwargs):
        writer.failures[int(time.time())] = 5  # of 20 in the second of the kill: within a half
        return terminate(*args, **kwargs)

    monkeypatch.setattr(kube, "terminate", failing_as_it_dies)
    kill_one_pod("api", timeout_s=10, configuration=configuration)
    judged = pods.failures_within_killed_share(
        max_failure_ratio=0.01, replacement_within_s=10, configuration=configuration
    )
    assert judged["during_removal"]["failures"] == 5 and judged["allowed"] >= 10


def test_more_failures_than_the_share_and_no_readiness_probe_deviate(cluster, live):
    configuration, writer = live
    cluster.controllers["coffee-api"]["readiness"] = False
    cluster.endpoint_lag_s = 1.0
    writer.failures.update({int(time.time()) + i: 15 for i in range(3)})
    kill_one_pod("api", timeout_s=10, configuration=configuration)
    with pytest.raises(ActivityFailed) as exc:
        pods.failures_within_killed_share(
            max_failure_ratio=0.01, replacement_within_s=10, configuration=configuration
        )
    message = str(exc.value)
    assert "requests failing (share 0.5)" in message
    assert "without a readinessProbe" in message
