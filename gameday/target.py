"""The target: where the system under test runs and how to reach it.

The lab's provisioning writes ``/etc/coffee-chaos/target.json`` (no secrets)
and ``/etc/coffee-chaos/secrets.json`` (mode 0600). ``COFFEE_CHAOS_TARGET``
points at another target file; an experiment's ``configuration`` may override
single fields (``api_url``, ``prometheus_url``, ``platform``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TARGET_FILE = "/etc/coffee-chaos/target.json"
TARGET_ENV = "COFFEE_CHAOS_TARGET"
PLATFORMS = ("supervisor", "kubernetes")
OVERRIDABLE = ("api_url", "prometheus_url", "platform", "faultproxy_url")


class TargetError(Exception):
    """The target configuration is missing, malformed, or lacks what was asked."""


@dataclass(frozen=True)
class Service:
    """A service the toolkit may act on, and how each platform names it."""

    name: str
    program: str
    kubernetes: dict[str, str] = field(default_factory=dict)


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
                f"no fault proxy for {dependency!r}: the target routes {known} "
                "through the proxy"
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
    )
