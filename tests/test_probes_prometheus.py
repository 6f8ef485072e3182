"""probes.prometheus: the p99 query, and its errors against a closed or silent port."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from chaoslib.exceptions import ActivityFailed
from target_files import free_port

from probes import http, prometheus

LAB_PROMETHEUS = "http://127.0.0.1:9090"


def test_p99_query_follows_the_contract_histogram():
    assert prometheus.p99_query() == (
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
    )
    assert 'bucket{endpoint="/api/v1/order"}[30s]' in prometheus.p99_query("30s", "/api/v1/order")


@pytest.mark.parametrize(
    ("window", "endpoint", "message"),
    [("1 minute", None, "not a Prometheus duration"), ("1m", 'x"}', "is not a path")],
)
def test_bad_inputs_are_refused(window, endpoint, message):
    with pytest.raises(ActivityFailed) as exc:
        prometheus.api_p99_ms(window, endpoint)
    assert message in str(exc.value)


def _prometheus_at(tmp_path, port: int) -> dict:
    """A configuration whose Prometheus is 127.0.0.1:``port``; it needs no lab."""
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps({"api_url": "http://127.0.0.1:8005", "services": {}}))
    return {"target_file": str(target_file), "prometheus_url": f"http://127.0.0.1:{port}"}


def test_an_unreachable_prometheus_is_named(tmp_path):
    port = free_port()
    with pytest.raises(ActivityFailed) as exc:
        prometheus.api_p99_ms(configuration=_prometheus_at(tmp_path, port))
    assert f"127.0.0.1:{port} did not answer" in str(exc.value)


@pytest.mark.timeout(30)
def test_a_prometheus_that_never_answers_fails_the_probe_in_bounded_time(tmp_path, monkeypatch):
    """A listening socket nobody reads: the connection opens, the answer never comes."""
    monkeypatch.setattr(prometheus, "QUERY_TIMEOUT_S", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(ActivityFailed) as exc:
            prometheus.series_count(configuration=_prometheus_at(tmp_path, port))
    assert f"127.0.0.1:{port} did not answer within 0.5 s" in str(exc.value)


@pytest.mark.lab
def test_p99_from_the_lab_prometheus():
    try:
        requests.get(f"{LAB_PROMETHEUS}/-/ready", timeout=2).raise_for_status()
    except requests.RequestException:
        pytest.skip("Prometheus is not running in this lab (program `prometheus`)")
    for _ in range(20):
        http.readyz_status(raise_on_unavailable=False)
    try:
        value = prometheus.api_p99_ms("5m")
    except ActivityFailed as exc:  # no scrape yet: the message must say so
        assert "no request durations" in str(exc)
    else:
        assert 0 < value <= 10_000
