"""probes.http: the contract's HTTP API, probed on the real café (lab) and on a closed port."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import free_port

from controls import evidence
from probes import http

SECRETS = Path("/etc/coffee-chaos/secrets.json")


DOWN = {"api_url": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture(scope="module", autouse=True)
def _minimal_target(tmp_path_factory) -> None:
    """Tests of unreachable or refused targets need no lab: give them their own target file."""
    path = tmp_path_factory.mktemp("target") / "target.json"
    path.write_text(json.dumps({"api_url": "http://127.0.0.1:8005", "services": {}}))
    DOWN["target_file"] = str(path)


@pytest.mark.lab
def test_readyz_of_a_ready_cafe(cafe):
    answer = http.readyz()
    assert answer["status"] == 200
    assert answer["elapsed_ms"] > 0
    assert http.readyz_status() == 200


@pytest.mark.lab
def test_a_placed_order_is_committed_in_postgresql(cafe):
    result = http.place_order(drink="americano", store="uptown", price=3.456)
    assert result["status"] == 200 and isinstance(result["id"], int)
    dsn = json.loads(SECRETS.read_text())["postgres_dsn"]
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT drink, store, price FROM coffee_rt.orders WHERE id = %s", (result["id"],)
        ).fetchone()
    assert row is not None and row[0] == "americano" and row[1] == "uptown"
    assert float(row[2]) == 3.46


@pytest.mark.lab
def test_dashboard_has_the_contract_shape(cafe):
    answer = http.dashboard()
    assert answer["status"] == 200
    assert {"current_hour", "top5_drinks", "recent_orders", "server_timestamp"} <= set(
        answer["body"]
    )


@pytest.mark.lab
def test_expected_answers_of_a_healthy_cafe_are_met(cafe):
    assert http.answers_within("dashboard-served")["status"] == 200
    assert http.answers_within("order-accepted")["id"] is not None
    assert http.answers_within("readyz-answers", max_ms=2000)["status"] == 200


@pytest.mark.lab
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("readyz-names-redis", "/readyz answering 503 naming redis within 2000 ms"),
        ("dashboard-refused", "the dashboard refused with 503 and a JSON reason"),
        ("order-refused", "an order refused with 503"),
    ],
)
def test_an_answer_the_cafe_does_not_give_is_an_unmet_expectation(cafe, answer, expected):
    with pytest.raises(ActivityFailed) as exc:
        http.answers_within(answer)
    assert f"expected {expected}" in str(exc.value) and "observed 200" in str(exc.value)
    failure = evidence.take()
    assert failure["expected"].startswith(expected) and failure["observed"].startswith("200")


def test_an_unknown_answer_is_refused_naming_the_known_ones():
    with pytest.raises(ActivityFailed) as exc:
        http.answers_within("readyz-names-mongodb", configuration=DOWN)
    assert "unknown answer 'readyz-names-mongodb'" in str(exc.value)
    assert "readyz-names-redis" in str(exc.value)


@pytest.mark.lab
def test_sampled_orders_are_timed_by_both_the_toolkit_and_the_api(cafe):
    facts = http.sampled_latency(path="/api/v1/order", samples=10)
    assert facts["statuses"] == {"200": 10} and facts["failure_ratio"] == 0
    assert 0 < facts["p50_ms"] <= facts["p99_ms"] <= facts["max_ms"]
    server = facts["server_view"]
    assert server["bucket_ms"][0] <= server["p99_ms"] <= server["bucket_ms"][1]
    assert "measurement_note" not in server, server


def test_sampled_orders_are_bounded_because_each_is_real():
    with pytest.raises(ActivityFailed) as exc:
        http.sampled_latency(path="/api/v1/order", samples=201, configuration=DOWN)
    assert "from 1 to 200" in str(exc.value) and "real order" in str(exc.value)


@pytest.mark.lab
def test_endpoint_latency_measures_every_sample(cafe):
    facts = http.endpoint_latency(path="/livez", samples=15)
    assert facts["statuses"] == {"200": 15}
    assert 0 < facts["p50_ms"] <= facts["p95_ms"] <= facts["p99_ms"] <= facts["max_ms"]


@pytest.mark.lab
def test_time_to_recover_of_a_healthy_cafe_is_short(cafe):
    assert 0 <= http.time_to_recover(deadline_s=10) < 10


def test_time_to_recover_names_what_still_fails():
    started = time.monotonic()
    with pytest.raises(ActivityFailed) as exc:
        http.time_to_recover(deadline_s=1, poll_s=0.2, configuration=DOWN)
    assert time.monotonic() - started < 5
    assert "did not recover within 1 s" in str(exc.value)
    assert "/readyz got no answer: ConnectionError" in str(exc.value)


def test_an_unreachable_api_raises_or_reports_status_zero():
    with pytest.raises(ActivityFailed) as exc:
        http.readyz(configuration=DOWN)
    assert DOWN["api_url"] in str(exc.value) and "no answer" in str(exc.value)
    assert http.readyz_status(raise_on_unavailable=False, configuration=DOWN) == 0
    assert http.dashboard(raise_on_unavailable=False, configuration=DOWN)["status"] == 0
    facts = http.endpoint_latency(samples=3, configuration=DOWN)
    assert facts["statuses"] == {"0": 3}


def test_a_remote_target_is_refused_unless_allowed():
    remote = {**DOWN, "api_url": "http://192.0.2.10:8005"}
    with pytest.raises(ActivityFailed) as exc:
        http.readyz(configuration=remote)
    assert "only loopback targets" in str(exc.value)
    assert "allow_remote_target: true" in str(exc.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: http.place_order(drink="mocha", configuration=DOWN), "unknown drink 'mocha'"),
        (lambda: http.place_order(store="mars", configuration=DOWN), "unknown store 'mars'"),
        (lambda: http.place_order(price=-1, configuration=DOWN), "price must be a positive"),
        (lambda: http.endpoint_latency(method="POST"), "use place_order"),
        (lambda: http.endpoint_latency(samples=0), "samples must be a whole number"),
        (lambda: http.endpoint_latency(path="livez", configuration=DOWN), "must start with '/'"),
        (lambda: http.readyz(timeout_s=0, configuration=DOWN), "timeout must be in"),
        (lambda: http.time_to_recover(deadline_s=0), "deadline_s must be in"),
        (lambda: http.time_to_recover(timeout_s=-1, configuration=DOWN), "timeout must be in"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(call, message):
    with pytest.raises(ActivityFailed) as exc:
        call()
    assert message in str(exc.value)
