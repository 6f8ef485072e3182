"""Configuration read once from the environment into a typed, checked object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from psycopg.conninfo import make_conninfo

from .flaws import FLAWS

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# What "no timeout" amounts to under the no-dependency-timeouts flaw: an hour.
UNBOUNDED_SECONDS = 3600.0


class SettingsError(ValueError):
    """An environment variable holds a value the café cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the API and the aggregator (contract variables plus documented extras)."""

    postgres_user: str = "coffee"
    postgres_password: str = ""
    postgres_db: str = "coffee"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_schema: str = "coffee_rt"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    app_host: str = "127.0.0.1"
    app_port: int = 8005
    dashboard_update_interval: float = 10.0
    db_pool_min_size: int = 5
    db_pool_max_size: int = 20
    connection_max_retries: int = 3
    connection_initial_backoff: float = 1.0
    db_pool_timeout: float = 1.0
    dependency_timeout: float = 1.0
    aggregator_interval: float = 10.0
    aggregator_metrics_host: str = "127.0.0.1"
    aggregator_metrics_port: int = 8006
    aggregator_hold_seconds: float = 0.0
    max_body_bytes: int = 65536
    # Idle keep-alive connections are closed after this long. It must outlast the longest
    # pause of any client (customers wait up to 10 s; load balancers idle up to 60 s):
    # a request sent on a connection the server is closing is lost (a POST is not retried).
    keepalive_timeout: float = 75.0
    # CAFE_FLAWS: switchable flaws (refcafe.flaws), none by default.
    flaws: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        settings = cls(
            postgres_user=reader.text("POSTGRES_USER", cls.postgres_user),
            postgres_password=reader.text("POSTGRES_PASSWORD", cls.postgres_password),
            postgres_db=reader.text("POSTGRES_DB", cls.postgres_db),
            postgres_host=reader.text("POSTGRES_HOST", cls.postgres_host),
            postgres_port=reader.port("POSTGRES_PORT", cls.postgres_port),
            postgres_schema=reader.identifier("POSTGRES_SCHEMA", cls.postgres_schema),
            redis_host=reader.text("REDIS_HOST", cls.redis_host),
            redis_port=reader.port("REDIS_PORT", cls.redis_port),
            app_host=reader.text("APP_HOST", cls.app_host),
            app_port=reader.port("APP_PORT", cls.app_port),
            dashboard_update_interval=reader.number(
                "DASHBOARD_UPDATE_INTERVAL", cls.dashboard_update_interval
            ),
            db_pool_min_size=reader.integer("DB_POOL_MIN_SIZE", cls.db_pool_min_size, low=0),
            db_pool_max_size=reader.integer("DB_POOL_MAX_SIZE", cls.db_pool_max_size, low=1),
            connection_max_retries=reader.integer(
                "CONNECTION_MAX_RETRIES", cls.connection_max_retries, low=0
            ),
            connection_initial_backoff=reader.number(
                "CONNECTION_INITIAL_BACKOFF", cls.connection_initial_backoff
            ),
            db_pool_timeout=reader.number("DB_POOL_TIMEOUT", cls.db_pool_timeout),
            dependency_timeout=reader.number("DEPENDENCY_TIMEOUT", cls.dependency_timeout),
            aggregator_interval=reader.number("AGGREGATOR_INTERVAL", cls.aggregator_interval),
            aggregator_metrics_host=reader.text(
                "AGGREGATOR_METRICS_HOST", cls.aggregator_metrics_host
            ),
            aggregator_metrics_port=reader.port(
                "AGGREGATOR_METRICS_PORT", cls.aggregator_metrics_port
            ),
            aggregator_hold_seconds=reader.number(
                "AGGREGATOR_HOLD_SECONDS", cls.aggregator_hold_seconds, allow_zero=True
            ),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", cls.max_body_bytes, low=1),
            keepalive_timeout=reader.number("KEEPALIVE_TIMEOUT", cls.keepalive_timeout),
            flaws=reader.flaws("CAFE_FLAWS"),
        )
        if settings.db_pool_min_size > settings.db_pool_max_size:
            raise SettingsError(
                f"DB_POOL_MIN_SIZE ({settings.db_pool_min_size}) is larger than "
                f"DB_POOL_MAX_SIZE ({settings.db_pool_max_size}): lower the first or raise "
                "the second"
            )
        if settings.flaw("no-dependency-timeouts"):
            # The flaw is a configuration mistake, so it lives where the timeouts come from.
            settings = replace(
                settings, dependency_timeout=UNBOUNDED_SECONDS, db_pool_timeout=UNBOUNDED_SECONDS
            )
        return settings

    def flaw(self, name: str) -> bool:
        """Whether the switchable flaw ``name`` is on (a name missing from FLAWS is a bug)."""
        if name not in FLAWS:
            raise KeyError(f"no flaw is named {name!r}")
        return name in self.flaws

    def postgres_conninfo(self, application_name: str) -> str:
        """The libpq connection string (libpq's connect_timeout has a floor of 2 s)."""
        return make_conninfo(
            host=self.postgres_host,
            port=self.postgres_port,
            dbname=self.postgres_db,
            user=self.postgres_user,
            password=self.postgres_password or None,
            connect_timeout=max(2, round(self.dependency_timeout)),
            application_name=application_name,
        )


class _Reader:
    """Typed access to environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name)
        return default if value is None else value

    def identifier(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        if not _IDENTIFIER.match(value):
            raise SettingsError(
                f"{name}={value!r} is not a plain SQL identifier: use letters, digits and "
                "underscores, starting with a letter"
            )
        return value

    def integer(self, name: str, default: int, low: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not an integer: set a whole number") from None
        if value < low:
            raise SettingsError(f"{name}={value} is below {low}: set a value of at least {low}")
        return value

    def port(self, name: str, default: int) -> int:
        value = self.integer(name, default, low=1)
        if value > 65535:
            raise SettingsError(f"{name}={value} is not a TCP port: use 1-65535")
        return value

    def number(self, name: str, default: float, allow_zero: bool = False) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
        if value != value or value < 0 or (value == 0 and not allow_zero):
            least = "zero or more" if allow_zero else "a positive number"
            raise SettingsError(f"{name}={raw!r} is out of range: set {least}")
        return value

    def flaws(self, name: str) -> frozenset[str]:
        names = {item.strip() for item in (self._raw(name) or "").split(",")} - {""}
        unknown = sorted(names - FLAWS.keys())
        if unknown:
            raise SettingsError(
                f"{name}: unknown flaw {', '.join(map(repr, unknown))}; the known flaws are "
                f"{', '.join(FLAWS)}"
            )
        return frozenset(names)
