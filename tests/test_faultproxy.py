"""The fault proxy, run as its own process in front of the real Redis and an echo server."""

from __future__ import annotations

import json
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from faultproxy.addresses import check_listen
from faultproxy.errors import ApiError
from faultproxy.toxics import parse_toxic

REPO = Path(__file__).resolve().parents[1]
# The lab runs the proxy with Debian's Python (3.11.2), whose asyncio differs in small ways.
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
REDIS = "127.0.0.1:6379"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Proxy:
    """The proxy process, its log, and a small client for its control API."""

    def __init__(self, process: subprocess.Popen[str], api: str) -> None:
        self.process = process
        self.api = api
        self.log: list[str] = []
        threading.Thread(target=self._collect_log, daemon=True).start()

    def _collect_log(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.log.append(line)

    def wait_for_log(self, text: str, timeout: float = 2.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.log if text in line]
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"{text!r} not logged; log: {''.join(self.log)}")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, json.loads(raw) if raw else None

    def port(self, name: str) -> int:
        status, proxy = self.call("GET", f"/proxies/{name}")
        assert status == 200, proxy
        return int(proxy["listen"].rsplit(":", 1)[1])

    def toxic(self, proxy: str, **toxic: Any) -> dict[str, Any]:
        status, body = self.call("POST", f"/proxies/{proxy}/toxics", toxic)
        assert status == 200, body
        return body


def start_proxy(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the proxy; return the process and its first stderr line (or all of it if it died)."""
    process = subprocess.Popen(
        [PYTHON, "-m", "faultproxy", *args], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "control API listening" in line:
            break
    return process, "".join(lines)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxy(echo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    config = tmp_path_factory.mktemp("faultproxy") / "faultproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "redis", "listen": "127.0.0.1:0", "upstream": REDIS, "enabled": True},
                {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo, "enabled": True},
            ]
        )
    )
    process, output = start_proxy("--listen", "127.0.0.1:0", "--config", str(config))
    found = re.search(r"control API listening on ([\d.]+:\d+)", output)
    assert found, f"the proxy did not start: {output}"
    yield Proxy(process, f"http://{found.group(1)}")
    process.terminate()
    assert process.wait(timeout=5) == 0


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "proxy" in request.fixturenames:
        proxy = request.getfixturevalue("proxy")
        assert proxy.call("POST", "/reset") == (204, None)


@pytest.fixture
def real_redis() -> None:
    """The lab's Redis must answer directly, or the Redis tests say why they cannot run."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(
            f"the lab's Redis at {REDIS} is not answering ({exc}): `supervisorctl start redis`"
        )


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def redis_client(port: int, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout,
        single_connection_client=True,
        retry=Retry(NoBackoff(), 0),
    )


# --- data path against the real Redis ----------------------------------------------


@pytest.mark.lab
def test_redis_passes_through(proxy: Proxy, real_redis: None) -> None:
    client = redis_client(proxy.port("redis"))
    assert client.ping() is True
    value = bytes(range(256)) * 4096
    client.set("faultproxy:test", value, ex=10)
    assert client.get("faultproxy:test") == value
    client.delete("faultproxy:test")


@pytest.mark.lab
def test_latency_hits_a_pooled_connection_and_removal_restores_it(
    proxy: Proxy, real_redis: None
) -> None:
    client = redis_client(proxy.port("redis"))
    connection_id = client.client_id()
    proxy.toxic("redis", type="latency", attributes={"latency": 200, "jitter": 0})
    started = time.monotonic()
    assert client.ping() is True
    assert time.monotonic() - started >= 0.2
    assert proxy.call("DELETE", "/proxies/redis/toxics/latency_downstream") == (204, None)
    started = time.monotonic()
    assert client.ping() is True
    assert time.monotonic() - started < 0.1
    assert client.client_id() == connection_id, "the same connection must carry on"


@pytest.mark.lab
def test_timeout_toxic_stalls_until_removed(proxy: Proxy, real_redis: None) -> None:
    port = proxy.port("redis")
    proxy.toxic("redis", name="stall", type="timeout", attributes={"timeout": 0})
    with pytest.raises(redis.exceptions.TimeoutError, match="Timeout"):
        redis_client(port, timeout=0.3).ping()
    with connect(port, timeout=0.3) as sock:
        sock.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        assert proxy.call("DELETE", "/proxies/redis/toxics/stall") == (204, None)
        sock.settimeout(2)
        assert recv_exactly(sock, 7) == b"+PONG\r\n"


@pytest.mark.lab
def test_reset_peer_resets_connections(proxy: Proxy, real_redis: None) -> None:
    port = proxy.port("redis")
    with connect(port) as existing:
        proxy.toxic("redis", type="reset_peer", attributes={"timeout": 0})
        with pytest.raises(ConnectionResetError):
            existing.sendall(b"PING\r\n")
            existing.recv(100)
    with pytest.raises(ConnectionResetError):  # the RST may even beat connect() returning
        with connect(port) as fresh:
            fresh.recv(100)


@pytest.mark.lab
def test_disabled_proxy_closes_connections_and_refuses_new_ones(
    proxy: Proxy, real_redis: None
) -> None:
    port = proxy.port("redis")
    with connect(port) as existing:
        status, body = proxy.call("POST", "/proxies/redis", {"enabled": False})
        assert status == 200 and body["enabled"] is False
        assert existing.recv(100) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    status, body = proxy.call("POST", "/proxies/redis", {"enabled": True})
    assert status == 200 and body["enabled"] is True
    assert redis_client(proxy.port("redis")).ping() is True


# --- data path against the echo server ------------------------------------------------


def test_timeout_with_a_duration_closes_the_connection(proxy: Proxy) -> None:
    proxy.toxic("echo", type="timeout", attributes={"timeout": 300})
    with connect(proxy.port("echo")) as sock:
        started = time.monotonic()
        sock.sendall(b"hello")
        assert sock.recv(100) == b""
        assert 0.25 <= time.monotonic() - started < 1.5


def test_jitter_keeps_the_order_of_data(proxy: Proxy) -> None:
    proxy.toxic("echo", type="latency", stream="upstream", attributes={"latency": 20, "jitter": 15})
    proxy.toxic("echo", type="latency", attributes={"latency": 20, "jitter": 15})
    messages = [f"<{i:03}>".encode() for i in range(40)]
    with connect(proxy.port("echo")) as sock:
        started = time.monotonic()
        for message in messages:
            sock.sendall(message)
            time.sleep(0.002)
        assert recv_exactly(sock, sum(map(len, messages))) == b"".join(messages)
        assert time.monotonic() - started >= 0.04


def test_toxicity_zero_never_applies(proxy: Proxy) -> None:
    proxy.toxic("echo", type="latency", toxicity=0, attributes={"latency": 1000})
    with connect(proxy.port("echo")) as sock:
        started = time.monotonic()
        sock.sendall(b"quick")
        assert recv_exactly(sock, 5) == b"quick"
        assert time.monotonic() - started < 0.5


def test_bandwidth_limits_the_rate(proxy: Proxy) -> None:
    proxy.toxic("echo", type="bandwidth", attributes={"rate": 50})
    payload = bytes(20_000)
    with connect(proxy.port("echo")) as sock:
        started = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert time.monotonic() - started >= 0.25


def test_limit_data_closes_after_the_limit(proxy: Proxy) -> None:
    proxy.toxic("echo", type="limit_data", attributes={"bytes": 10})
    with connect(proxy.port("echo")) as sock:
        sock.sendall(b"0123456789abcdefghij")
        received = b""
        while chunk := sock.recv(100):
            received += chunk
    assert received == b"0123456789"


def test_slow_close_delays_the_close(proxy: Proxy) -> None:
    proxy.toxic("echo", type="slow_close", attributes={"delay": 300})
    with connect(proxy.port("echo")) as sock:
        started = time.monotonic()
        sock.sendall(b"bye")
        sock.shutdown(socket.SHUT_WR)
        assert recv_exactly(sock, 3) == b"bye"
        assert sock.recv(100) == b""
        assert time.monotonic() - started >= 0.3


# --- control API ------------------------------------------------------------------------


def test_api_errors_name_the_problem(proxy: Proxy) -> None:
    status, body = proxy.call("GET", "/proxies/nope")
    assert (status, body["status"]) == (404, 404) and "proxy not found" in body["error"]
    assert "nope" in body["error"]
    status, body = proxy.call("POST", "/proxies/nope/toxics", {"type": "latency"})
    assert status == 404 and "nope" in body["error"]
    status, body = proxy.call("DELETE", "/proxies/echo/toxics/nothing")
    assert status == 404 and "toxic not found" in body["error"]
    status, body = proxy.call("POST", "/proxies", {"name": "echo", "upstream": REDIS})
    assert (status, body["status"]) == (409, 409) and "already exists" in body["error"]
    proxy.toxic("echo", type="latency")
    assert proxy.call("GET", "/proxies/echo/toxics/latency%5Fdownstream")[0] == 200
    status, body = proxy.call("POST", "/proxies/echo/toxics", {"type": "latency"})
    assert status == 409 and "latency_downstream" in body["error"]
    status, body = proxy.call("POST", "/proxies/echo/toxics", {"type": "lag"})
    assert (status, body["status"]) == (400, 400) and "invalid toxic type" in body["error"]
    assert "'lag'" in body["error"]
    status, body = proxy.call(
        "POST",
        "/proxies/echo/toxics",
        {"type": "latency", "name": "neg", "attributes": {"latency": -5}},
    )
    assert status == 400 and "'latency'" in body["error"] and ">= 0" in body["error"]
    status, body = proxy.call(
        "POST", "/proxies/echo/toxics", {"type": "latency", "name": "x", "toxicity": 1.5}
    )
    assert status == 400 and "toxicity" in body["error"]
    status, body = proxy.call(
        "POST", "/proxies/echo/toxics", {"type": "latency", "name": "x", "stream": "sideways"}
    )
    assert status == 400 and "sideways" in body["error"]
    status, body = proxy.call("POST", "/proxies", {"name": "nameless"})
    assert status == 400 and "upstream" in body["error"]
    status, _ = proxy.call("GET", "/proxies/echo/toxics")
    assert status == 200
    names = [t["name"] for t in proxy.call("GET", "/proxies/echo/toxics")[1]]
    assert names == ["latency_downstream"], "a refused toxic must change nothing"


def test_bad_json_is_refused(proxy: Proxy) -> None:
    request = urllib.request.Request(proxy.api + "/proxies", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
    assert "not valid JSON" in json.loads(exc.value.read())["error"]


def test_non_loopback_listen_is_refused(proxy: Proxy) -> None:
    status, body = proxy.call(
        "POST", "/proxies", {"name": "open", "listen": "0.0.0.0:0", "upstream": REDIS}
    )
    assert status == 400 and "not a loopback address" in body["error"]
    status, body = proxy.call("POST", "/proxies/echo", {"listen": "192.0.2.1:9999"})
    assert status == 400 and "192.0.2.1" in body["error"]
    status, body = proxy.call("POST", "/proxies", {"name": "far", "upstream": "192.0.2.1:5432"})
    assert status == 400 and "--allow-remote-upstream" in body["error"]
    proxies = proxy.call("GET", "/proxies")[1]
    assert "open" not in proxies and "far" not in proxies


def test_populate_checks_every_proxy_before_changing_anything(proxy: Proxy, echo: str) -> None:
    status, body = proxy.call(
        "POST",
        "/populate",
        [
            {"name": "fine", "listen": "127.0.0.1:0", "upstream": echo},
            {"name": "public", "listen": "10.0.0.1:15432", "upstream": echo},
        ],
    )
    assert status == 400 and "listen at proxy 2 '10.0.0.1:15432'" in body["error"]
    assert "fine" not in proxy.call("GET", "/proxies")[1]
    status, body = proxy.call("POST", "/proxies", ["not", "an", "object"])
    assert status == 400
    assert body["error"] == "proxy must be a JSON object {name, listen, upstream, enabled}"


def test_unreachable_upstream_closes_the_client(proxy: Proxy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    status, body = proxy.call(
        "POST", "/proxies", {"name": "dead", "upstream": f"127.0.0.1:{closed_port}"}
    )
    assert status == 201, body
    try:
        with connect(proxy.port("dead")) as sock:
            assert sock.recv(100) == b""
        line = proxy.wait_for_log("proxy dead: upstream")
        assert f"127.0.0.1:{closed_port} unreachable" in line and "refused" in line
    finally:
        assert proxy.call("DELETE", "/proxies/dead") == (204, None)


def test_reset_removes_toxics_and_enables_proxies(proxy: Proxy) -> None:
    proxy.toxic("echo", type="latency", attributes={"latency": 100})
    proxy.toxic("redis", type="timeout")
    assert proxy.call("POST", "/proxies/echo", {"enabled": False})[0] == 200
    assert proxy.call("POST", "/reset") == (204, None)
    proxies = proxy.call("GET", "/proxies")[1]
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())
    with connect(proxy.port("echo")) as sock:
        sock.sendall(b"back")
        assert recv_exactly(sock, 4) == b"back"


def test_toxiproxy_client_calls_work(proxy: Proxy, echo: str) -> None:
    """The calls chaostoolkit-toxiproxy and Toxiproxy's docs make, with their shapes."""
    status, created = proxy.call(
        "POST",
        "/proxies",
        {"name": "shop", "listen": "127.0.0.1:0", "upstream": echo, "enabled": True},
    )
    assert status == 201
    assert set(created) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert created["upstream"] == echo and created["toxics"] == []
    toxic = {
        "name": "lag",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 150, "jitter": 0},
    }
    assert proxy.call("POST", "/proxies/shop/toxics", toxic) == (200, toxic)
    assert proxy.call("GET", "/proxies/shop/toxics") == (200, [toxic])
    assert proxy.call("GET", "/proxies/shop/toxics/lag") == (200, toxic)
    port = proxy.port("shop")
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        assert time.monotonic() - started >= 0.15
    status, updated = proxy.call(
        "POST", "/proxies/shop/toxics/lag", {"attributes": {"latency": 10}}
    )
    assert status == 200 and updated["attributes"] == {"latency": 10, "jitter": 0}
    assert proxy.call("DELETE", "/proxies/shop/toxics/lag") == (204, None)
    status, disabled = proxy.call("POST", "/proxies/shop", {"enabled": False})
    assert status == 200 and disabled["enabled"] is False
    status, populated = proxy.call(
        "POST",
        "/populate",
        [
            {"name": "shop", "listen": f"127.0.0.1:{port}", "upstream": echo, "enabled": True},
            {"name": "shop2", "listen": "127.0.0.1:0", "upstream": echo},
        ],
    )
    assert status == 201 and [p["name"] for p in populated["proxies"]] == ["shop", "shop2"]
    assert proxy.call("GET", "/version")[1]["version"]
    for name in ("shop", "shop2"):
        assert proxy.call("DELETE", f"/proxies/{name}") == (204, None)
    assert proxy.call("GET", "/proxies/shop")[0] == 404
    with pytest.raises(ConnectionRefusedError):
        connect(port)


# --- start-up and validation -----------------------------------------------------------


def test_non_loopback_control_address_is_refused() -> None:
    process, output = start_proxy("--listen", "0.0.0.0:0")
    assert process.wait(timeout=5) == 2
    assert "--listen '0.0.0.0:0' is not a loopback address" in output


def test_config_with_a_public_listen_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "faultproxy.json"
    config.write_text(json.dumps([{"name": "pg", "listen": ":15432", "upstream": REDIS}]))
    process, output = start_proxy("--listen", "127.0.0.1:0", "--config", str(config))
    assert process.wait(timeout=5) == 2
    assert "listen at proxy 1 ':15432' is not a loopback address" in output


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    process, output = start_proxy("--config", str(tmp_path / "absent.json"))
    assert process.wait(timeout=5) == 2
    assert "absent.json does not exist" in output


def test_toxic_validation_names_the_field() -> None:
    with pytest.raises(ApiError, match="unknown attribute 'latncy'"):
        parse_toxic({"type": "latency", "attributes": {"latncy": 100}})
    toxic = parse_toxic({"type": "timeout", "stream": "upstream"})
    assert (toxic.name, toxic.toxicity, toxic["timeout"]) == ("timeout_upstream", 1.0, 0)
    assert check_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ApiError, match="port must be a number"):
        check_listen("127.0.0.1:http")
