"""The target: where the system under test runs and how to reach it.

The lab's provisioning writes ``/etc/coffee-chaos/target.json`` (no secrets)
and ``/etc/coffee-chaos/secrets.json`` (mode 0600). ``COFFEE_CHAOS_TARGET``
points at another target file; an experiment's ``configuration`` may override
single fields (``api_url``, ``prometheus_url``, ``platform``).

The optional ``load`` section describes distributed load (remote Locust
workers, inventory group ``locust_workers``): where the master listens for
them and how many processes join it. Without it the master binds 127.0.0.1
and waits for no remote worker.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gameday.errors import GamedayError

DEFAULT_TARGET_FILE = "/etc/coffee-chaos/target.json"
TARGET_ENV = "COFFEE_CHAOS_TARGET"
PLATFORMS = ("supervisor", "kubernetes")
OVERRIDABLE = ("api_url", "prometheus_url", "platform", "faultproxy_url")


class TargetError(GamedayError):
    """The target configuration is missing, malformed, or lacks what was asked."""


@dataclass(frozen=True)
class Service:
    """A service the toolkit may act on, and how each platform names it."""

    name: str
    program: str
    kubernetes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadSection:
    """Where the Locust master listens for remote workers, and how many join it."""

    master_bind_host: str = "127.0.0.1"
    master_port: int = 5557
    remote_workers: int = 0

    @property
    def bind_is_loopback(self) -> bool:
        return ipaddress.ip_address(self.master_bind_host).is_loopback


@dataclass(frozen=True)
class Target:
    """Everything the engine needs to reach the system under test."""

    api_url: str
    prometheus_url: str
    platform: str
    supervisor_url: str
    services: dict[str, Service]
    faultproxy_url: str
    proxies: dict[str, str]
    state_dir: Path
    secrets_file: Path
    load: LoadSection = LoadSection()

    @property
    def ledger_dir(self) -> Path:
        return self.state_dir / "ledger"

    @property
    def kill_switch(self) -> Path:
        return self.state_dir / "STOP"

    def service(self, name: str) -> Service:
        """The declared service ``name``; anything else is an error, never a no-op."""
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise TargetError(
                f"unknown service {name!r}: the target declares {known}; "
                "fix the name or declare the service in the target file"
            ) from None

    def proxy(self, dependency: str) -> str:
        """The fault-proxy name that carries the API's traffic to ``dependency``."""
        try:
            return self.proxies[dependency]
        except KeyError:
            known = ", ".join(sorted(self.proxies)) or "none"
            raise TargetError(
                f"no fault proxy for {dependency!r}: the target routes {known} through the proxy"
            ) from None


def target_file(configuration: dict[str, Any] | None = None) -> Path:
    """The target file in force: configuration, then environment, then the lab's."""
    configured = (configuration or {}).get("target_file")
    return Path(configured or os.environ.get(TARGET_ENV) or DEFAULT_TARGET_FILE)


def load_target(configuration: dict[str, Any] | None = None) -> Target:
    """Read the target file, apply the experiment's overrides, and check it."""
    path = target_file(configuration)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"target file {path} does not exist: run `make lab` to provision the "
            f"lab, or point {TARGET_ENV} at your own target file"
        ) from None
    except json.JSONDecodeError as exc:
        raise TargetError(f"target file {path} is not valid JSON: {exc}") from None
    for key in OVERRIDABLE:
        value = (configuration or {}).get(key)
        if value:
            raw[key] = value
    return _parse(raw, path)


def load_secrets(target: Target, secrets: dict[str, Any] | None = None) -> dict[str, str]:
    """Credentials: the experiment's ``coffee`` secrets scope, else the lab's file."""
    scoped = dict((secrets or {}).get("coffee", {}) or {})
    if scoped.get("postgres_dsn"):
        return scoped
    try:
        stored = json.loads(target.secrets_file.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"no credentials: {target.secrets_file} is missing and the experiment "
            "has no `coffee` secrets scope with `postgres_dsn`"
        ) from None
    except PermissionError:
        raise TargetError(
            f"cannot read {target.secrets_file}: run as the user that provisioned the lab"
        ) from None
    return {**stored, **{k: v for k, v in scoped.items() if v}}


def _parse(raw: dict[str, Any], path: Path) -> Target:
    missing = [k for k in ("api_url", "services") if k not in raw]
    if missing:
        raise TargetError(f"target file {path} lacks {', '.join(missing)}")
    platform = raw.get("platform", "supervisor")
    if platform not in PLATFORMS:
        raise TargetError(
            f"target file {path}: platform {platform!r} is not one of {', '.join(PLATFORMS)}"
        )
    services = {
        name: Service(
            name=name,
            program=spec.get("program", name),
            kubernetes=dict(spec.get("kubernetes", {})),
        )
        for name, spec in raw["services"].items()
    }
    return Target(
        api_url=raw["api_url"].rstrip("/"),
        prometheus_url=raw.get("prometheus_url", "http://127.0.0.1:9090").rstrip("/"),
        platform=platform,
        supervisor_url=raw.get("supervisor_url", "unix:///var/run/supervisor.sock"),
        services=services,
        faultproxy_url=raw.get("faultproxy_url", "http://127.0.0.1:8474").rstrip("/"),
        proxies=dict(raw.get("proxies", {})),
        state_dir=Path(raw.get("state_dir", "/var/lib/coffee-chaos")),
        secrets_file=Path(raw.get("secrets_file", "/etc/coffee-chaos/secrets.json")),
        load=_parse_load(raw.get("load", {}), path),
    )


def _parse_load(raw: Any, path: Path) -> LoadSection:
    """The ``load`` section, checked: each error names the key and what it takes."""
    where = f"target file {path}: load"
    if not isinstance(raw, dict):
        raise TargetError(f"{where} must be an object, got {raw!r}")
    known = [f.name for f in fields(LoadSection)]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise TargetError(
            f"{where} has unknown key(s) {', '.join(unknown)}: it takes {', '.join(known)}"
        )
    section = LoadSection(**raw)
    if not _is_ip(section.master_bind_host):
        raise TargetError(
            f"{where}.master_bind_host must be an IP address of this machine that the "
            f"remote workers reach, got {section.master_bind_host!r}"
        )
    if not _whole(section.master_port) or not 1 <= section.master_port <= 65535:
        raise TargetError(
            f"{where}.master_port must be a TCP port from 1 to 65535, got {section.master_port!r}"
        )
    if not _whole(section.remote_workers) or section.remote_workers < 0:
        raise TargetError(
            f"{where}.remote_workers must be a whole number >= 0 (the worker processes of "
            f"group locust_workers), got {section.remote_workers!r}"
        )
    return section


def _is_ip(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(ipaddress.ip_address(value))
    except ValueError:
        return False


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
