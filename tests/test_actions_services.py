"""The Chaos Toolkit service actions and probes against the real supervisor lab."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import LAB_TARGET, write_target

from actions import services as service_actions
from gameday import ledger, services
from gameday.target import load_target
from probes import services as service_probes


@pytest.fixture
def configuration(tmp_path: Path):
    """Lab configuration whose "aggregator" is the redis program; its ledger reverted (redis
    runs again) after."""
    raw = json.loads(LAB_TARGET.read_text())
    raw["services"]["aggregator"] = {"program": "redis"}
    config = write_target(tmp_path, services=raw["services"])
    yield config
    ledger.recover(load_target(config))
    services.start("redis", load_target(config))


class Metrics:
    """A /metrics endpoint on a free loopback port serving ``text``."""

    def __init__(self) -> None:
        self.text = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def metrics():
    endpoint = Metrics()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def test_an_unknown_service_fails_naming_it_and_the_declared_ones(tmp_path) -> None:
    config = write_target(tmp_path)
    for action in (
        service_actions.kill_service,
        service_actions.stop_service,
        service_actions.start_service,
        service_actions.restart_service,
    ):
        with pytest.raises(ActivityFailed) as exc:
            action("memcached", configuration=config)
        assert "memcached" in str(exc.value)
        assert "aggregator, api, postgresql, redis" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        service_probes.service_is_running(
            "memcached", raise_on_unavailable=False, configuration=config
        )
    assert "memcached" in str(exc.value)


def test_a_missing_target_file_fails_with_what_to_do(tmp_path) -> None:
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_service("redis", configuration={"target_file": str(tmp_path / "x")})
    assert "does not exist" in str(exc.value) and "make lab" in str(exc.value)


@pytest.mark.lab
def test_kill_and_start_return_json_facts_and_the_probes_follow(configuration) -> None:
    assert service_probes.service_is_running("redis", configuration=configuration) is True
    killed = service_actions.kill_service("redis", configuration=configuration)
    assert json.loads(json.dumps(killed)) == killed
    assert killed["service"] == "redis" and killed["signal"] == "SIGKILL"
    assert service_probes.service_is_running("redis", configuration=configuration) is False
    assert service_probes.service_status("redis", configuration=configuration)["state"] == "EXITED"
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_service("redis", configuration=configuration)
    assert "could not kill service 'redis'" in str(exc.value) and "not RUNNING" in str(exc.value)

    started = service_actions.start_service("redis", configuration=configuration)
    assert started["running"] is True and started["resolved"] == [killed["ledger_id"]]
    assert service_actions.start_service("redis", configuration=configuration)["changed"] is False
    restarted = service_actions.restart_service("redis", configuration=configuration)
    assert restarted["started"]["running"] is True
    assert ledger.ledger_for(load_target(configuration)).entries() == []


def test_an_unreachable_supervisor_reads_as_not_running_only_when_asked(tmp_path) -> None:
    config = write_target(tmp_path, supervisor_url=f"unix://{tmp_path}/none.sock")
    assert (
        service_probes.service_is_running("redis", raise_on_unavailable=False, configuration=config)
        is False
    )
    with pytest.raises(ActivityFailed) as exc:
        service_probes.service_is_running("redis", configuration=config)
    assert "cannot reach supervisor" in str(exc.value)


@pytest.mark.lab
def test_kill_aggregator_mid_pass_waits_for_the_gauge(configuration, metrics) -> None:
    metrics.text = "aggregator_pass_in_progress 0.0\n"
    threading.Timer(
        0.4, lambda: setattr(metrics, "text", "aggregator_pass_in_progress 1.0\n")
    ).start()
    result = service_actions.kill_aggregator_mid_pass(
        metrics_url=metrics.url, wait_s=5, configuration=configuration
    )
    assert result["mid_pass"] is True and result["note"] == ""
    assert result["waited_s"] >= 0.35
    assert result["program"] == "redis" and result["running"] is False


@pytest.mark.lab
def test_kill_aggregator_mid_pass_lands_into_a_pass_that_still_runs(configuration, metrics) -> None:
    """A pass over before ``into_pass_s`` is let go; the kill lands in the next, longer one."""
    metrics.text = "aggregator_pass_in_progress 1.0\n"
    for at, value in ((0.1, "0.0"), (0.6, "1.0")):
        threading.Timer(
            at, lambda v=value: setattr(metrics, "text", f"aggregator_pass_in_progress {v}\n")
        ).start()
    result = service_actions.kill_aggregator_mid_pass(
        metrics_url=metrics.url, wait_s=5, into_pass_s=0.3, configuration=configuration
    )
    assert result["mid_pass"] is True and result["waited_s"] >= 0.85
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_aggregator_mid_pass(into_pass_s=6, wait_s=5)
    assert "into_pass_s must be at least 0 and under wait_s (5)" in str(exc.value)


@pytest.mark.lab
def test_kill_aggregator_mid_pass_falls_back_without_the_gauge(configuration, metrics) -> None:
    metrics.text = "http_requests_total 3\n"
    result = service_actions.kill_aggregator_mid_pass(
        metrics_url=metrics.url, wait_s=5, configuration=configuration
    )
    assert result["mid_pass"] is False and result["running"] is False
    assert "no aggregator_pass_in_progress gauge" in result["note"]


@pytest.mark.lab
def test_kill_aggregator_mid_pass_fails_when_no_pass_starts(configuration, metrics) -> None:
    metrics.text = "aggregator_pass_in_progress 0.0\n"
    began = time.monotonic()
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_aggregator_mid_pass(
            metrics_url=metrics.url, wait_s=0.3, configuration=configuration
        )
    assert "no pass started within 0.3 s" in str(exc.value)
    assert time.monotonic() - began < 3
    assert service_probes.service_is_running("redis", configuration=configuration) is True
    assert ledger.ledger_for(load_target(configuration)).entries() == []


def test_kill_aggregator_mid_pass_refuses_a_remote_metrics_url(tmp_path) -> None:
    config = write_target(tmp_path, supervisor_url=f"unix://{tmp_path}/none.sock")
    with pytest.raises(ActivityFailed) as exc:
        service_actions.kill_aggregator_mid_pass(
            metrics_url="http://192.0.2.10:8006/metrics", wait_s=0.3, configuration=config
        )
    assert "192.0.2.10" in str(exc.value) and "allow_remote_target: true" in str(exc.value)
    assert ledger.ledger_for(load_target(config)).entries() == []
