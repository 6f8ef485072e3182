"""Network faults through a real fault proxy in front of the lab's Redis, and netem here."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from chaoslib.exceptions import ActivityFailed
from target_files import free_port, write_target

from actions import network
from gameday import ledger, netfault, resets
from gameday.errors import NetFaultError
from gameday.target import TargetError, load_target

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def faultproxy(tmp_path_factory):
    """Our own fault proxy on free ports: proxy "redis" in front of the lab's Redis."""
    api_port, redis_port = free_port(), free_port()
    config = tmp_path_factory.mktemp("faultproxy") / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {
                    "name": "redis",
                    "listen": f"127.0.0.1:{redis_port}",
                    "upstream": "127.0.0.1:6379",
                    "enabled": True,
                }
            ]
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "--listen",
            f"127.0.0.1:{api_port}",
            "--config",
            str(config),
        ],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"{url}/proxies", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "faultproxy did not start"
        time.sleep(0.05)
    yield {"url": url, "redis_port": redis_port}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def proxied(tmp_path, faultproxy):
    """A target whose "redis" goes through our proxy; its ledger is reverted while the proxy
    still runs, and no toxic is left afterwards."""
    configuration = write_target(
        tmp_path, faultproxy_url=faultproxy["url"], proxies={"redis": "redis"}
    )
    target = load_target(configuration)
    yield target, configuration, faultproxy["redis_port"]
    ledger.recover(target)
    for toxic in requests.get(f"{faultproxy['url']}/proxies/redis/toxics", timeout=5).json():
        requests.delete(f"{faultproxy['url']}/proxies/redis/toxics/{toxic['name']}", timeout=5)


def ping(port: int, timeout: float = 3.0) -> tuple[bytes, float]:
    """Redis PING through ``port``: the reply and the seconds it took."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
    return reply, time.monotonic() - began


@pytest.mark.lab
def test_latency_through_the_proxy_delays_redis_and_remove_clears_it(proxied) -> None:
    target, _, port = proxied
    result = netfault.inject(target, "redis", "latency", latency_ms=300, jitter_ms=10)
    assert result["backend"] == "proxy" and result["toxic"] == "coffee-chaos-latency"
    assert result["attributes"] == {"latency": 300, "jitter": 10}
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "toxic" and entry["subject"] == "redis"
    [fault] = netfault.active(target)
    assert fault["ours"] and fault["type"] == "latency" and fault["dependency"] == "redis"
    reply, seconds = ping(port)
    assert reply == b"+PONG\r\n" and seconds >= 0.28

    removed = netfault.remove(target, "redis")
    assert removed["removed"] == [
        {"backend": "proxy", "proxy": "redis", "toxic": "coffee-chaos-latency"}
    ]
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []
    reply, seconds = ping(port)
    assert reply == b"+PONG\r\n" and seconds < 0.2


@pytest.mark.lab
def test_recover_deletes_a_recorded_toxic_and_is_idempotent(proxied) -> None:
    target, _, _ = proxied
    netfault.inject(target, "redis", "timeout", timeout_ms=0)
    [reverted] = ledger.recover(target)
    assert reverted["result"]["removed"] is True
    assert netfault.active(target) == []
    assert ledger.recover(target) == []


@pytest.mark.lab
def test_timeout_stalls_and_reset_resets_connections(proxied) -> None:
    target, _, port = proxied
    netfault.inject(target, "redis", "timeout", timeout_ms=0)
    with pytest.raises(TimeoutError):
        ping(port, timeout=0.5)
    netfault.remove(target, "redis")
    netfault.inject(target, "redis", "reset", timeout_ms=0)
    with pytest.raises(ConnectionResetError):
        ping(port)
    assert netfault.active(target)[0]["type"] == "reset_peer"


@pytest.mark.lab
def test_a_second_identical_toxic_is_refused_and_not_recorded(proxied) -> None:
    target, _, _ = proxied
    first = netfault.inject(target, "redis", "latency", latency_ms=50)
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", "latency", latency_ms=80)
    assert "already has a toxic 'coffee-chaos-latency'" in str(exc.value)
    assert "remove_network_faults" in str(exc.value)
    assert [e["id"] for e in ledger.ledger_for(target).entries()] == [first["ledger_id"]]


@pytest.mark.lab
def test_network_actions_inject_and_remove_everything(proxied) -> None:
    target, configuration, port = proxied
    injected = network.add_latency("redis", latency_ms=200, configuration=configuration)
    assert json.loads(json.dumps(injected)) == injected
    assert ping(port)[1] >= 0.18
    removed = network.remove_network_faults(configuration=configuration)
    assert removed["removed"][0]["removed"][0]["toxic"] == "coffee-chaos-latency"
    assert injected["fault"]["kind"] == "toxic" and injected["fault"]["subject"] == "redis"
    assert [r["ledger_id"] for r in removed["reverts"]] == [injected["ledger_id"]]
    assert removed["reverts"][0]["at"] >= injected["fault"]["at"]
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []


def test_an_unreachable_proxy_is_named_and_nothing_is_recorded(tmp_path) -> None:
    target = load_target(write_target(tmp_path, faultproxy_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", "latency", latency_ms=100)
    assert "cannot reach the fault proxy" in str(exc.value) and "faultproxy" in str(exc.value)
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"kind": "packet-loss"}, "unknown network fault 'packet-loss'"),
        ({"kind": "latency", "latency_ms": 0}, "latency_ms > 0"),
        ({"kind": "latency", "latency_ms": -5}, "latency_ms must be a whole number"),
        ({"kind": "latency", "latency_ms": 10, "jitter_ms": 20}, "must not exceed"),
        ({"kind": "timeout", "timeout_ms": 1.5}, "timeout_ms must be a whole number"),
        ({"kind": "latency", "latency_ms": 10, "backend": "iptables"}, "unknown backend"),
        ({"kind": "reset", "toxicity": 0}, "toxicity must be in (0, 1]"),
        ({"kind": "reset", "toxicity": 1.5}, "toxicity must be in (0, 1]"),
        ({"kind": "reset", "toxicity": "half"}, "toxicity must be a number"),
        ({"kind": "reset", "toxicity": True}, "toxicity must be a number"),
        ({"kind": "bandwidth"}, "rate_kbps >= 1"),
        ({"kind": "bandwidth", "rate_kbps": 0.5}, "rate_kbps must be a whole number"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_recorded(tmp_path, kwargs, expected):
    target = load_target(write_target(tmp_path))
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", **kwargs)
    assert expected in str(exc.value)
    assert ledger.ledger_for(target).entries() == []


def test_the_proxy_backend_needs_a_proxied_dependency(tmp_path) -> None:
    target = load_target(write_target(tmp_path))
    with pytest.raises(TargetError) as exc:
        netfault.inject(target, "api", "latency", latency_ms=10, backend="proxy")
    assert "'api'" in str(exc.value) and "postgresql, redis" in str(exc.value)


def test_netem_needs_an_interface(tmp_path) -> None:
    target = load_target(write_target(tmp_path, proxies={}))
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", "latency", latency_ms=10)  # auto: no proxy -> netem
    assert "netem_interface" in str(exc.value)
    assert ledger.ledger_for(target).entries() == []


def test_netem_cannot_reset(tmp_path) -> None:
    target = load_target({**write_target(tmp_path), "netem_interface": "lo"})
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", "reset", backend="netem")
    assert "use backend 'proxy'" in str(exc.value)


def test_netem_without_kernel_support_says_to_use_the_proxy(tmp_path) -> None:
    target = load_target({**write_target(tmp_path), "netem_interface": "lo"})
    try:
        result = netfault.inject(target, "redis", "latency", latency_ms=1, backend="netem")
    except NetFaultError as exc:  # this lab's kernel has no netem
        assert "no netem" in str(exc) and "use backend 'proxy'" in str(exc)
        assert ledger.ledger_for(target).entries() == []
    else:  # a kernel with netem: the rule was added and recorded; take it away again
        assert result["rule"] == "delay 1ms 0ms"
        assert netfault.remove(target, "redis")["removed"][0]["removed"] is True
        assert ledger.ledger_for(target).entries() == []


def test_network_actions_turn_errors_into_activity_failed(tmp_path) -> None:
    configuration = write_target(tmp_path)
    with pytest.raises(ActivityFailed) as exc:
        network.add_latency("memcached", latency_ms=10, configuration=configuration)
    assert "memcached" in str(exc.value) and "aggregator, api, postgresql, redis" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        network.add_latency("redis", latency_ms=10, backend="netem", configuration=configuration)
    assert "netem_interface" in str(exc.value) and "'redis'" in str(exc.value)
    with pytest.raises(ActivityFailed) as exc:
        network.remove_network_faults("memcached", configuration=configuration)
    assert "memcached" in str(exc.value)


def test_netem_takes_a_rate_but_no_share_of_connections(tmp_path) -> None:
    assert netfault.Fault("bandwidth", rate_kbps=2).netem_rule == ["rate", "16kbit"]
    target = load_target({**write_target(tmp_path), "netem_interface": "lo"})
    with pytest.raises(NetFaultError) as exc:
        netfault.inject(target, "redis", "latency", latency_ms=5, toxicity=0.5, backend="netem")
    assert "toxicity 0.5" in str(exc.value) and "backend 'proxy'" in str(exc.value)
    assert ledger.ledger_for(target).entries() == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"toxicity": 0}, "toxicity must be in (0, 1]"),
        ({"toxicity": 0.5, "fault_s": 10, "period_s": -1}, "period_s must be a positive"),
        ({"toxicity": 0.5, "fault_s": 1, "period_s": 5}, "fault_s (1) must be at least period_s"),
        ({"toxicity": 2, "fault_s": 10, "period_s": 1}, "toxicity must be in (0, 1]"),
    ],
)
def test_reset_connections_refuses_bad_values_before_anything(tmp_path, kwargs, expected):
    configuration = write_target(tmp_path)
    with pytest.raises(ActivityFailed) as exc:
        network.reset_connections("redis", configuration=configuration, **kwargs)
    assert expected in str(exc.value)
    assert ledger.ledger_for(load_target(configuration)).entries() == []


def test_limit_bandwidth_names_a_bad_rate(tmp_path) -> None:
    configuration = write_target(tmp_path)
    with pytest.raises(ActivityFailed) as exc:
        network.limit_bandwidth("postgresql", rate_kbps=-3, configuration=configuration)
    assert "rate_kbps" in str(exc.value)


def echo(port: int, size: int) -> float:
    """Redis ECHO of ``size`` bytes through ``port``: the seconds the whole reply took."""
    payload = b"x" * size
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (size, payload))
        reply = b""
        while not reply.endswith(payload + b"\r\n"):
            reply += sock.recv(65536)
    return time.monotonic() - began


@pytest.mark.lab
def test_bandwidth_slows_the_replies_until_removed(proxied) -> None:
    target, _, port = proxied
    result = netfault.inject(target, "redis", "bandwidth", rate_kbps=10)
    assert result["type"] == "bandwidth" and result["attributes"] == {"rate": 10}
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "toxic" and "bandwidth" in entry["note"]
    assert echo(port, 3000) >= 0.2  # 3 KB at 10 KB/s: 0.3 s (the first 1 KB at once)
    netfault.remove(target, "redis")
    assert echo(port, 3000) < 0.1
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_a_reset_with_a_toxicity_is_recorded_with_it(proxied) -> None:
    target, configuration, _ = proxied
    network.reset_connections("redis", toxicity=0.25, configuration=configuration)
    [toxic] = requests.get(f"{target.faultproxy_url}/proxies/redis/toxics", timeout=5).json()
    assert toxic["type"] == "reset_peer" and toxic["toxicity"] == 0.25
    [entry] = ledger.ledger_for(target).entries()
    assert "toxicity 0.25" in entry["note"]
    network.remove_network_faults("redis", configuration=configuration)
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []


@pytest.mark.lab
def test_resets_are_laid_anew_each_period_and_gone_after(proxied) -> None:
    target, configuration, port = proxied
    result = network.reset_connections(
        "redis", toxicity=1, period_s=0.5, fault_s=1.6, configuration=configuration
    )
    assert result["rounds"] == 4 and 1.5 <= result["lasted_s"] < 3
    assert result["fault"]["ledger_id"] == result["reverts"][0]["ledger_id"]
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []
    assert ping(port)[0] == b"+PONG\r\n"


@pytest.mark.lab
def test_an_interrupted_round_lifts_its_reset(proxied, monkeypatch) -> None:
    target, _, port = proxied

    def interrupt(seconds: float) -> None:
        assert [t["type"] for t in netfault.active(target)] == ["reset_peer"]
        raise KeyboardInterrupt

    monkeypatch.setattr(resets.time, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        resets.reset_rounds(target, "redis", 0.5, period_s=1, fault_s=5)
    assert netfault.active(target) == [] and ledger.ledger_for(target).entries() == []
    assert ping(port)[0] == b"+PONG\r\n"
