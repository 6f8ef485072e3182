"""Shared helpers for the reference café's lab tests: URLs, credentials, supervisor, waits."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import psycopg
import redis
import requests

API_URL = os.environ.get("CAFE_API_URL", "http://127.0.0.1:8005")
WS_URL = API_URL.replace("http", "ws", 1) + "/ws/dashboard"
SECRETS_FILE = Path(os.environ.get("CAFE_SECRETS_FILE", "/etc/coffee-chaos/secrets.json"))
CAFE_DIR = Path(__file__).resolve().parent.parent / "cafe"
CAFE_PYTHON = os.environ.get("CAFE_PYTHON", "/opt/coffee-chaos/target/venv/bin/python")
AGGREGATOR_ENV_FILE = Path(
    os.environ.get("CAFE_AGGREGATOR_ENV", "/etc/coffee-chaos/aggregator.env")
)
CONTRACT_KEYS = ("metrics:top5", "orders:recent", "aggregator:last_success")

T = TypeVar("T")


def secrets() -> dict[str, str]:
    return json.loads(SECRETS_FILE.read_text())


def connect_db() -> psycopg.Connection:
    return psycopg.connect(secrets()["postgres_dsn"], autocommit=True, connect_timeout=3)


def connect_redis() -> redis.Redis:
    return redis.Redis.from_url(secrets()["redis_url"], socket_timeout=3)


def supervisorctl(*args: str) -> str:
    done = subprocess.run(
        ["supervisorctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout


def api_pid() -> int:
    """The pid of the process listening on the API's port (one uvicorn worker)."""
    port = int(API_URL.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise AssertionError(f"nothing listens on port {port}: is the API running?")


def ensure_running(*programs: str) -> None:
    """Start any of ``programs`` that is not RUNNING (tests call this in finally)."""
    for program in programs:
        if "RUNNING" not in supervisorctl("status", program):
            supervisorctl("start", program)


def wait_until(check: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    """Poll ``check`` until truthy; fail naming the last result after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:  # the condition may raise while the service is down
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")


def aggregator_env(**overrides: str) -> dict[str, str]:
    """The lab aggregator's environment (from its env file) with ``overrides``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for line in AGGREGATOR_ENV_FILE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    env.update(overrides)
    return env


def start_aggregator(**overrides: str) -> subprocess.Popen[bytes]:
    """Run the repo's aggregator (cafe/) in the café venv with the lab env plus overrides."""
    return subprocess.Popen(
        [CAFE_PYTHON, "-m", "refcafe.aggregator"],
        cwd=CAFE_DIR,
        env=aggregator_env(**overrides),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def metric_value(text: str, name: str) -> float | None:
    """The value of an unlabelled sample ``name`` in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_ready(timeout: float = 60) -> None:
    """Wait until the API reports ready (another test may have a dependency down)."""
    wait_until(
        lambda: requests.get(f"{API_URL}/readyz", timeout=5).status_code == 200,
        timeout=timeout,
        interval=0.5,
    )


# --- Side cafés: the repo's café on private ports, for its switchable flaws ----------------
#
# A side café never touches the lab's own café: it has its own Redis server, its own schema
# in the lab's PostgreSQL, and reaches both through a fault proxy of its own, so its faults
# reach no one else.

FLAWS_SCHEMA = "coffee_flaws"
REPO_DIR = CAFE_DIR.parent  # holds the faultproxy package, run as `python3 -m faultproxy`
REDIS_SERVER = os.environ.get("CAFE_REDIS_SERVER", "/usr/bin/redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _started(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=CAFE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _ended(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


class PrivateFaultProxy:
    """The repo's fault proxy on a free port, with no proxy until ``add`` makes one."""

    def __init__(self, log_dir: Path) -> None:
        log = log_dir / "faultproxy.log"
        self.process = _started(
            ["/usr/bin/python3", "-m", "faultproxy", "--listen", "127.0.0.1:0"],
            log,
            {**os.environ, "PYTHONPATH": str(REPO_DIR)},
        )
        found = wait_until(
            lambda: re.search(r"control API listening on 127\.0\.0\.1:(\d+)", log.read_text()), 10
        )
        self.url = f"http://127.0.0.1:{found.group(1)}"

    def add(self, name: str, upstream_port: int) -> int:
        """A proxy to ``upstream_port``; returns the port it listens on."""
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
        made = requests.post(f"{self.url}/proxies", json=body, timeout=3)
        assert made.status_code == 201, made.text
        return int(made.json()["listen"].rsplit(":", 1)[1])

    @contextlib.contextmanager
    def down(self, name: str) -> Iterator[None]:
        """Proxy ``name`` disabled: connections cut, new ones refused; enabled in finally."""
        self._set_enabled(name, False)
        try:
            yield
        finally:
            self._set_enabled(name, True)

    def _set_enabled(self, name: str, enabled: bool) -> None:
        done = requests.post(f"{self.url}/proxies/{name}", json={"enabled": enabled}, timeout=3)
        assert done.status_code == 200, done.text

    @contextlib.contextmanager
    def stalled(self, name: str) -> Iterator[None]:
        """Hold every byte the upstream sends (a ``timeout`` toxic), released in finally."""
        toxic = {"name": "stall", "type": "timeout", "stream": "downstream"}
        added = requests.post(
            f"{self.url}/proxies/{name}/toxics",
            json={**toxic, "attributes": {"timeout": 0}},
            timeout=3,
        )
        assert added.status_code == 200, added.text
        try:
            yield
        finally:
            requests.delete(f"{self.url}/proxies/{name}/toxics/stall", timeout=3)

    def delay(self, name: str, latency_ms: int) -> None:
        """Hold every answer of the upstream of proxy ``name`` ``latency_ms`` (a latency
        toxic; it goes with the proxy)."""
        toxic = {"name": "delay", "type": "latency", "stream": "downstream"}
        added = requests.post(
            f"{self.url}/proxies/{name}/toxics",
            json={**toxic, "attributes": {"latency": latency_ms}},
            timeout=3,
        )
        assert added.status_code == 200, added.text

    def close(self) -> None:
        _ended(self.process)


class SideCafe:
    """The repo's café with ``flaws`` (CAFE_FLAWS) and ``env`` on free ports: the API and, if
    asked, the aggregator; a Redis server of its own and the lab's PostgreSQL (schema
    FLAWS_SCHEMA unless ``env`` says otherwise), both through ``proxy`` as ``<name>-redis``
    and ``<name>-postgresql``. Lab-like knobs, but passes and pushes every second."""

    def __init__(
        self,
        proxy: PrivateFaultProxy,
        log_dir: Path,
        name: str,
        flaws: str = "",
        **env: str,
    ) -> None:
        self.proxy, self.log_dir, self.name = proxy, log_dir, name
        self.api: subprocess.Popen | None = None
        self.aggregator: subprocess.Popen | None = None
        self.redis_port = free_port()
        lab_pg = aggregator_env()
        self.port, self.aggregator_port = free_port(), free_port()
        defaults = {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(proxy.add(f"{name}-postgresql", int(lab_pg["POSTGRES_PORT"]))),
            "POSTGRES_SCHEMA": FLAWS_SCHEMA,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(proxy.add(f"{name}-redis", self.redis_port)),
            "APP_PORT": str(self.port),
            "AGGREGATOR_METRICS_PORT": str(self.aggregator_port),
            "AGGREGATOR_HOLD_SECONDS": "0",
            "AGGREGATOR_INTERVAL": "1",
            "DASHBOARD_UPDATE_INTERVAL": "1",
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "5",
            "CAFE_FLAWS": flaws,
        }
        self.env = aggregator_env(**{**defaults, **env})
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/dashboard"
        self.aggregator_metrics_url = f"http://127.0.0.1:{self.aggregator_port}/metrics"
        self.redis_server = _started(
            [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            log_dir / f"{name}-redis.log",
        )
        self.redis = redis.Redis(port=self.redis_port, socket_timeout=3)
        try:
            wait_until(self.redis.ping, 10)
        except AssertionError:
            _ended(self.redis_server)
            raise

    def start_api(self) -> SideCafe:
        """Start the API and wait until it answers /readyz with 200."""
        self.api = self._start("api", self.env)
        self._wait_for(self.api, "api", lambda: requests.get(f"{self.url}/readyz", timeout=2).ok)
        return self

    def start_aggregator(self, **env: str) -> subprocess.Popen:
        """Start the aggregator (with ``env`` on top) and wait until its metrics answer."""
        self.aggregator = self._start("aggregator", {**self.env, **env})
        self._wait_for(
            self.aggregator, "aggregator", lambda: requests.get(self.aggregator_metrics_url).ok
        )
        return self.aggregator

    def down(self, dependency: str) -> contextlib.AbstractContextManager[None]:
        """``postgresql`` or ``redis`` looks down to this café (connections cut)."""
        return self.proxy.down(f"{self.name}-{dependency}")

    def stalled(self, dependency: str) -> contextlib.AbstractContextManager[None]:
        """``postgresql`` or ``redis`` stops answering this café (bytes held)."""
        return self.proxy.stalled(f"{self.name}-{dependency}")

    def aggregator_metric(self, sample: str) -> float | None:
        return metric_value(requests.get(self.aggregator_metrics_url, timeout=2).text, sample)

    def log(self, program: str) -> str:
        return (self.log_dir / f"{self.name}-{program}.log").read_text(errors="replace")

    def _start(self, program: str, env: dict[str, str]) -> subprocess.Popen:
        command = [CAFE_PYTHON, "-m", f"refcafe.{program}"]
        return _started(command, self.log_dir / f"{self.name}-{program}.log", env)

    def _wait_for(self, process: subprocess.Popen, program: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name}'s {program} did not start: {self.log(program)[-2000:]}")

    def stop_api(self) -> None:
        _ended(self.api)

    def stop_aggregator(self) -> None:
        _ended(self.aggregator)

    def close(self) -> None:
        self.stop_api()
        self.stop_aggregator()
        self.redis.close()
        _ended(self.redis_server)
        for dependency in ("postgresql", "redis"):
            requests.delete(f"{self.proxy.url}/proxies/{self.name}-{dependency}", timeout=3)


def migrate(schema: str) -> None:
    """Create ``schema`` (the café's own migration) in the lab's PostgreSQL."""
    subprocess.run(
        [CAFE_PYTHON, "-m", "refcafe.migrate"],
        cwd=CAFE_DIR,
        env=aggregator_env(POSTGRES_SCHEMA=schema),
        check=True,
        capture_output=True,
        timeout=60,
    )
