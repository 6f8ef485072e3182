"""The target: where the system under test runs, how to reach it, and the run's settings.

``load_target(configuration)`` reads the target file and the experiment's
``configuration`` once, checks every value (an error names the key and what it
takes) and returns a ``Target``; nothing else reads the configuration dict.

The target file: configuration ``target_file``, else ``$COFFEE_CHAOS_TARGET``,
else ``/etc/coffee-chaos/target.json`` (written by provisioning, no secrets).
Its keys, with their defaults; the first five may also be set in the configuration:

- ``api_url`` (required): the API under test.
- ``prometheus_url`` (``http://127.0.0.1:9090``): Prometheus.
- ``platform`` (``supervisor``): ``supervisor`` or ``kubernetes``.
- ``faultproxy_url`` (``http://127.0.0.1:8474``): the Toxiproxy-compatible fault proxy.
- ``aggregator_metrics_url`` (``http://127.0.0.1:8006/metrics``): the reference
  café's aggregator metrics (optional: not part of the target contract).
- ``services`` (required): ``{name: {"program": ..., "kubernetes": {...}}}``.
- ``supervisor_url`` (``unix:///var/run/supervisor.sock``): the process manager.
- ``proxies`` (none): ``{dependency: proxy name}`` on the fault proxy.
- ``state_dir`` (``/var/lib/coffee-chaos``): the ledger and the load state. The kill
  switch and the run lock are the machine's (``gameday.registry``), whatever the file.
- ``secrets_file`` (``/etc/coffee-chaos/secrets.json``, mode 0600): credentials,
  unless the experiment has a ``coffee`` secrets scope.
- ``deployment`` (none): the target's last verified deployment, written by the ``cafe``
  role: ``{"stamp": "<checksum>", "deployed_at": "<ISO time>"}``; a saved capacity older
  than it is refused (``gameday.capacity``).
- ``load`` (local only): where the Locust master listens for remote workers
  (inventory group ``locust_workers``) and how many join it: ``master_bind_host``
  (``127.0.0.1``), ``master_port`` (5557), ``remote_workers`` (0).
- ``override_allow`` (none): more environment variables an experiment may override
  (``gameday.overrides`` allows pool sizes, timeouts, the aggregator's hold, CAFE_FLAWS).
- ``allow_remote_target`` (false): as in the configuration, for the machine's own tools.

Every URL the toolkit calls (the five above, an http ``supervisor_url``, the credentials'
hosts) must be loopback, and ``netem_interface`` the loopback interface, unless
``allow_remote_target`` is true.

The configuration keys the engine reads (the experiment's others, durations and
thresholds, only fill in its arguments). ``gameday run --var key=value`` passes
strings: whole numbers and true/false are read from them.

- ``target_file``: another target file (see above).
- ``allow_remote_target`` (false): traffic may go to a target that is not loopback (see above).
- ``request_timeout_s`` (60, Locust's own): how long a load request may hang before it
  counts as a failure with no answer; experiments set twice their largest answer bound.
- ``load_workers`` (0): local Locust workers behind a master when ``start_load`` is
  not given ``workers``; 0 runs one process.
- ``postgres_schema`` (``coffee_rt``): the schema of the contract's ``orders`` table.
- ``netem_interface`` (none): the host interface towards the dependencies, for the
  ``netem`` backend of network faults.
- ``service_env_dir`` (``/etc/coffee-chaos``): where environment override files go.
- ``run_dir``: where load runs write their files; ``$COFFEE_CHAOS_RUN_DIR`` (set by
  the safety control, beside the journal) comes first, ``runs/<UTC stamp>`` last.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gameday import registry
from gameday.errors import GamedayError

# The configuration keys the engine reads (the module's list), valid in any experiment.
ENGINE_KEYS = (
    "target_file",
    "allow_remote_target",
    "request_timeout_s",
    "load_workers",
    "postgres_schema",
    "netem_interface",
    "service_env_dir",
    "run_dir",
)
DEFAULT_TARGET_FILE = "/etc/coffee-chaos/target.json"
TARGET_ENV = "COFFEE_CHAOS_TARGET"
RUN_DIR_ENV = "COFFEE_CHAOS_RUN_DIR"
PLATFORMS = ("supervisor", "kubernetes")
OVERRIDABLE = ("api_url", "prometheus_url", "platform", "faultproxy_url", "aggregator_metrics_url")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_IDENTIFIER_TAKES = "a plain SQL identifier (letters, digits, underscores)"
_INTERFACE = re.compile(r"^[^\s/]{1,15}$")
_PATH = re.compile(r"^[^\0]+$")
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
NET_DEVICES = Path("/sys/class/net")
ARPHRD_LOOPBACK = "772"  # /sys/class/net/<interface>/type of a loopback interface
REMOTE_HINT = (
    "set `allow_remote_target: true` in the experiment's configuration (or the target file) "
    "if that system is yours to test"
)


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
class Deployment:
    """The target's last verified deployment: what runs (its stamp) and since when."""

    stamp: str
    deployed_at: datetime


@dataclass(frozen=True)
class Target:
    """Everything the engine needs to reach the system under test, and the run's settings
    (the module's docstring says where each field comes from and its default)."""

    api_url: str
    prometheus_url: str
    platform: str
    supervisor_url: str
    services: dict[str, Service]
    faultproxy_url: str
    aggregator_metrics_url: str
    proxies: dict[str, str]
    state_dir: Path
    secrets_file: Path
    load: LoadSection
    deployment: Deployment | None
    allow_remote_target: bool
    load_workers: int
    request_timeout_s: float
    postgres_schema: str
    netem_interface: str | None
    service_env_dir: Path
    run_dir: Path
    target_file: Path
    override_allow: tuple[str, ...] = ()

    @property
    def ledger_dir(self) -> Path:
        return self.state_dir / "ledger"

    @property
    def kill_switch(self) -> Path:
        """The machine's kill switch (one for every target file)."""
        return registry.kill_switch()

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


def load_target(configuration: dict[str, Any] | None = None) -> Target:
    """Read the target file, apply the experiment's configuration, and check both."""
    config = dict(configuration or {})
    path = Path(config.get("target_file") or os.environ.get(TARGET_ENV) or DEFAULT_TARGET_FILE)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"target file {path} does not exist: run `make lab` to provision the "
            f"lab, or point {TARGET_ENV} at your own target file"
        ) from None
    except json.JSONDecodeError as exc:
        raise TargetError(f"target file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TargetError(f"target file {path} must hold a JSON object, got {type(raw).__name__}")
    for key in OVERRIDABLE:
        if config.get(key):
            raw[key] = config[key]
    settings = _configuration_fields(config)
    settings["allow_remote_target"] |= _flag(raw, "allow_remote_target", default=False)
    target = Target(**_target_file_fields(raw, path), **settings, target_file=path)
    if not target.allow_remote_target:
        _refuse_remote(target)
    return target


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    credentials = {**stored, **{k: v for k, v in scoped.items() if v}}
    if not target.allow_remote_target:
        for key in ("postgres_dsn", "redis_url"):
            host = _credential_host(str(credentials.get(key) or ""))
            if host and not host.startswith("/") and not is_loopback(host):
                raise TargetError(
                    f"the {key} credential reaches {host}, not loopback: {REMOTE_HINT}"
                )
    return credentials


def _refuse_remote(target: Target) -> None:
    """Every URL the toolkit calls is loopback, and netem shapes only the loopback interface."""
    urls = {
        key: getattr(target, key)
        for key in ("api_url", "prometheus_url", "faultproxy_url", "aggregator_metrics_url")
    }
    if target.supervisor_url.startswith(("http://", "https://")):
        urls["supervisor_url"] = target.supervisor_url
    for key, url in urls.items():
        host = urlsplit(url).hostname or ""
        if not is_loopback(host):
            raise TargetError(
                f"refusing {key} {url!r}: only loopback targets are allowed, and {host} is not "
                f"loopback; {REMOTE_HINT}"
            )
    interface = target.netem_interface
    if interface and _device_type(interface) != ARPHRD_LOOPBACK:
        raise TargetError(
            f"configuration netem_interface {interface!r} is not the loopback interface: a "
            f"netem rule there shapes traffic that leaves this machine; {REMOTE_HINT}"
        )


def _device_type(interface: str) -> str:
    try:
        return (NET_DEVICES / interface / "type").read_text().strip()
    except FileNotFoundError:
        known = ", ".join(sorted(p.name for p in NET_DEVICES.iterdir()))
        raise TargetError(
            f"configuration netem_interface {interface!r}: no such interface here ({known})"
        ) from None


def _credential_host(value: str) -> str:
    """The host a DSN or URL credential connects to ("" when it names none)."""
    if "://" in value:
        try:
            return urlsplit(value).hostname or ""
        except ValueError:
            return ""
    match = re.search(r"\bhost\s*=\s*'?([^\s']+)", value)
    return match.group(1) if match else ""


def _target_file_fields(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The target file's keys (with the configuration's overrides), checked."""
    missing = [k for k in ("api_url", "services") if k not in raw]
    if missing:
        raise TargetError(f"target file {path} lacks {', '.join(missing)}")
    platform = raw.get("platform", "supervisor")
    if platform not in PLATFORMS:
        raise TargetError(
            f"target file {path}: platform {platform!r} is not one of {', '.join(PLATFORMS)}"
        )
    urls = {
        key: _url(raw, key, default, path)
        for key, default in (
            ("api_url", ""),
            ("prometheus_url", "http://127.0.0.1:9090"),
            ("faultproxy_url", "http://127.0.0.1:8474"),
            ("aggregator_metrics_url", "http://127.0.0.1:8006/metrics"),
        )
    }
    services = {
        name: Service(
            name=name,
            program=spec.get("program", name),
            kubernetes=dict(spec.get("kubernetes", {})),
        )
        for name, spec in raw["services"].items()
    }
    return {
        **urls,
        "platform": platform,
        "supervisor_url": raw.get("supervisor_url", "unix:///var/run/supervisor.sock"),
        "services": services,
        "proxies": dict(raw.get("proxies", {})),
        "state_dir": Path(raw.get("state_dir", "/var/lib/coffee-chaos")),
        "secrets_file": Path(raw.get("secrets_file", "/etc/coffee-chaos/secrets.json")),
        "load": _parse_load(raw.get("load", {}), path),
        "override_allow": _names(raw.get("override_allow", []), path),
        "deployment": _parse_deployment(raw.get("deployment"), path),
    }


def _names(raw: Any, path: Path) -> tuple[str, ...]:
    """``override_allow``: environment variable names."""
    if not isinstance(raw, list) or not all(isinstance(n, str) and _VARIABLE.match(n) for n in raw):
        raise TargetError(
            f"target file {path}: override_allow must be a list of environment variable names "
            f"(upper case letters, digits, underscores), got {raw!r}"
        )
    return tuple(raw)


def _configuration_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The experiment's settings, each checked, each with its default."""
    return {
        "allow_remote_target": _flag(config, "allow_remote_target", default=False),
        "load_workers": _count(config, "load_workers", "local Locust workers", default=0),
        "request_timeout_s": _seconds(config, "request_timeout_s", default=60.0),
        "postgres_schema": _matching(
            config, "postgres_schema", _IDENTIFIER, _IDENTIFIER_TAKES, default="coffee_rt"
        ),
        "netem_interface": _matching(
            config, "netem_interface", _INTERFACE, "a network interface such as eth0", default=None
        ),
        "service_env_dir": Path(
            _matching(config, "service_env_dir", _PATH, "a directory", default="/etc/coffee-chaos")
        ),
        "run_dir": _run_dir(config),
    }


def _run_dir(config: dict[str, Any]) -> Path:
    """$COFFEE_CHAOS_RUN_DIR, else configuration ``run_dir``, else ``runs/<UTC stamp>``."""
    chosen = os.environ.get(RUN_DIR_ENV) or _matching(
        config, "run_dir", _PATH, "a directory", default=None
    )
    if not chosen:
        chosen = Path("runs") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(chosen).resolve()


def _matching(
    config: dict[str, Any], key: str, pattern: re.Pattern, takes: str, default: str | None
) -> str | None:
    value = config.get(key) or default
    if value is not None and (not isinstance(value, str) or not pattern.match(value)):
        raise _bad(key, takes, value)
    return value


def _flag(config: dict[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _bad(key, "true or false", value, f"--var {key}:bool=true")


def _count(config: dict[str, Any], key: str, what: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if _whole(value) and value >= 0:
        return value
    raise _bad(key, f"a whole number of {what}", value, f"--var {key}:int=2")


def _seconds(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if isinstance(value, bool) or not 0 < seconds <= 3600:
        raise _bad(key, "a number of seconds in (0, 3600]", value, f"--var {key}:float=5")
    return seconds


def _bad(key: str, takes: str, value: Any, example: str = "") -> TargetError:
    return TargetError(
        f"configuration {key} must be {takes}, got {value!r}"
        + (f": e.g. {example}" if example else "")
    )


def _url(raw: dict[str, Any], key: str, default: str, path: Path) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise TargetError(
            f"{key} must be an http(s) URL, got {value!r} (target file {path}, or the "
            "experiment's configuration)"
        )
    return value.rstrip("/")


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


def _parse_deployment(raw: Any, path: Path) -> Deployment | None:
    """The ``deployment`` record (None when the target file has none), checked."""
    if raw is None:
        return None
    stamp = raw.get("stamp") if isinstance(raw, dict) else None
    deployed_at = raw.get("deployed_at") if isinstance(raw, dict) else None
    try:
        when = datetime.fromisoformat(deployed_at) if isinstance(deployed_at, str) else None
    except ValueError:
        when = None
    if not isinstance(stamp, str) or not stamp or when is None:
        raise TargetError(
            f"target file {path}: deployment must be "
            f'{{"stamp": "<checksum>", "deployed_at": "<ISO time>"}}, got {raw!r}'
        )
    return Deployment(stamp, when if when.tzinfo else when.replace(tzinfo=UTC))


def _is_ip(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(ipaddress.ip_address(value))
    except ValueError:
        return False


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
