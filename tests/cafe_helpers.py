"""Shared helpers for the reference café's lab tests: URLs, credentials, supervisor, waits."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import psycopg
import redis

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
    import requests

    wait_until(
        lambda: requests.get(f"{API_URL}/readyz", timeout=5).status_code == 200,
        timeout=timeout,
        interval=0.5,
    )
