"""Environment overrides: a service restarted with a few variables overridden.

``override`` writes ``<service_env_dir>/<service>.override.env`` (mode 0600,
owned like the service's own env file), records it in the fault ledger (kind
``override``) before writing it, and restarts the service; the lab's wrapper
scripts source that file after the service's env file. ``clear`` (and the
ledger's ``revert``, used by ``gameday recover``) deletes it and restarts the
service. Supervisor platform only.

Only the variables of ``ALLOWED`` (pool sizes, timeouts, the aggregator's pass hold,
the reference café's switchable flaws) and those the target file lists in
``override_allow`` may be overridden: an experiment cannot rebind the API
(``APP_HOST``), preload a library (``LD_PRELOAD``) or change a credential.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from gameday import services
from gameday.errors import GamedayError
from gameday.ledger import ledger_for
from gameday.target import Target

__all__ = ["OverrideError", "clear", "override", "revert", "shown"]

_KEY = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "DSN", "KEY")
ALLOWED = (
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_TIMEOUT",
    "DEPENDENCY_TIMEOUT",
    "KEEPALIVE_TIMEOUT",
    "AGGREGATOR_HOLD_SECONDS",
    "CAFE_FLAWS",
)


class OverrideError(GamedayError):
    """An override is malformed, or cannot be written on this target."""


def override(target: Target, service: str, env: Any, timeout_s: float = 60) -> dict[str, Any]:
    """Run ``service`` with ``env`` (e.g. ``{"DB_POOL_MAX_SIZE": 2}``) overridden."""
    lines = _lines(env, ALLOWED + target.override_allow)
    path = _override_file(service, target)
    entry_id = ledger_for(target).record(
        "override",
        service,
        {"file": str(path)},
        note=f"environment override {path} ({', '.join(sorted(env))}) for service {service}",
    )
    _write(path, lines)
    restarted = services.restart(service, target, timeout_s)
    return {
        "service": service,
        "file": str(path),
        "env": shown(env),
        "pid": restarted["started"].get("pid"),
        "ledger_id": entry_id,
    }


def clear(target: Target, service: str, timeout_s: float = 60) -> dict[str, Any]:
    """Delete ``service``'s override file and restart it; without one, nothing changes."""
    return _clear(service, target, _override_file(service, target), timeout_s)


def revert(entry: dict, target: Target) -> dict[str, Any]:
    """Revert an "override" ledger entry: delete the file, restart the service."""
    return _clear(entry["subject"], target, Path(entry["revert"]["file"]), 60)


def shown(env: dict[str, Any]) -> dict[str, Any]:
    """``env`` with the values of secret-looking names hidden."""
    return {key: "***" if _secret(key) else value for key, value in env.items()}


def _clear(service: str, target: Target, path: Path, timeout_s: float) -> dict[str, Any]:
    ledger = ledger_for(target)
    entries = [e for e in ledger.entries() if e["kind"] == "override" and e["subject"] == service]
    existed = path.exists()
    if not existed and not entries:
        return {"service": service, "file": str(path), "changed": False, "note": "no override"}
    path.unlink(missing_ok=True)
    restarted = services.restart(service, target, timeout_s)
    for entry in entries:
        ledger.resolve(entry["id"])
    return {
        "service": service,
        "file": str(path),
        "changed": True,
        "pid": restarted["started"].get("pid"),
        "resolved": [e["id"] for e in entries],
    }


def _override_file(service: str, target: Target) -> Path:
    """Where ``service``'s override goes; refused off supervisor or without the directory."""
    target.service(service)
    if target.platform != "supervisor":
        raise OverrideError(
            f"{service!r} runs on {target.platform}: set its environment in the deployment"
        )
    env_dir = target.service_env_dir
    if not env_dir.is_dir():
        raise OverrideError(f"{env_dir} does not exist: provision the lab, or set service_env_dir")
    return env_dir / f"{service}.override.env"


def _lines(env: Any, allowed: tuple[str, ...]) -> list[str]:
    """``KEY='value'`` lines a POSIX shell sources safely; refuse what it could not, and
    any variable not ``allowed``."""
    if not isinstance(env, dict) or not env:
        raise OverrideError(
            f"env must be a non-empty mapping of variable names to values, got {env!r}"
        )
    lines = []
    for key, value in env.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise OverrideError(
                f"environment variable name {key!r} must be upper case letters, digits and "
                "underscores"
            )
        if key not in allowed:
            raise OverrideError(
                f"{key} may not be overridden: an experiment may set {', '.join(allowed)}; "
                "list more in the target file's `override_allow` if your system needs them"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise OverrideError(f"value of {key} must be a string or a number, got {value!r}")
        text = str(value)
        if "\n" in text or "\0" in text:
            raise OverrideError(f"value of {key} must be a single line")
        lines.append(f"{key}='{text.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'")
    return lines


def _write(path: Path, lines: list[str]) -> None:
    """Write atomically, mode 0600, owned like the service's own env file."""
    main_env = path.with_name(path.name.replace(".override.env", ".env"))
    owner = main_env.stat() if main_env.exists() else None
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(
                "# written by actions.config.override_service_env; "
                "removed by its rollback\n" + "\n".join(lines) + "\n"
            )
        if owner is not None:
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OverrideError(f"cannot write {path}: {exc.strerror}") from None


def _secret(key: str) -> bool:
    return any(word in key for word in _SECRET_WORDS)
