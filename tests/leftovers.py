"""What a crash may leave on the lab, each kind listed; an empty dict means nothing is left.

Every supervisor program RUNNING and none of its processes stopped (state T), no toxic
on the fault proxy, no netem qdisc, no Locust process, no environment override file, no
seeded block, no table-lock holder, no holder's PostgreSQL session (a lock, connection
slots), no database left read-only, Redis taking writes (no CLIENT PAUSE), Redis's maxmemory
and policy as its config file sets them, no stress-ng process (a CPU or memory stressor), every ledger of
the machine empty, /readyz answering 200.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
import redis
import requests
from cafe_helpers import connect_db, connect_redis, secrets, supervisorctl, wait_until
from conftest import _is_locust, wait_ready

from gameday import ledger, procs, registry, stress
from gameday.connholder import APPLICATION as HOG_APPLICATION
from gameday.lockholder import APPLICATION as LOCK_APPLICATION
from gameday.target import Target

ENV_DIR = Path("/etc/coffee-chaos")
REDIS_CONFIG = ENV_DIR / "redis.conf"
REDIS_DEFAULTS = {"maxmemory": "0", "maxmemory-policy": "noeviction"}


def leftovers(target: Target, ready_within_s: float = 30) -> dict[str, list]:
    """Whatever is left, by kind (only the kinds with something left)."""
    found = {
        "not_running": _not_running(),
        "frozen": _frozen(),
        "toxics": _toxics(target),
        "qdiscs": _qdiscs(),
        "locust": [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if _is_locust(p.info["cmdline"], target.api_url)
        ],
        "overrides": sorted(str(p) for p in ENV_DIR.glob("*.override.env")),
        "seeds": _seeds(),
        "lock_holders": [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if "gameday.lockholder" in (p.info["cmdline"] or [])
        ],
        "redis_paused": _redis_paused(),
        "database": _database(),
        "redis_limits": _redis_limits(),
        "stressors": [f"{p.pid} {p.command}" for p in stress.running()],
        "ledgers": _ledgers(target),
        "not_ready": [] if wait_ready(target, ready_within_s) else [f"{target.api_url}/readyz"],
    }
    return {kind: items for kind, items in found.items() if items}


def _programs() -> list[list[str]]:
    """supervisorctl status, one list of words per program."""
    return [line.split() for line in supervisorctl("status").splitlines() if line.strip()]


def _not_running() -> list[str]:
    return [" ".join(words[:2]) for words in _programs() if words[1:2] != ["RUNNING"]]


def _frozen() -> list[str]:
    """Processes stopped (state T) in any program's group or tree."""
    pids = [int(words[3].rstrip(",")) for words in _programs() if words[2:3] == ["pid"]]
    return [f"{p.pid} {p.command}" for pid in pids for p in procs.stopped_under(pid)]


def _toxics(target: Target) -> list[str]:
    proxies = requests.get(f"{target.faultproxy_url}/proxies", timeout=5).json()
    return [f"{name}:{t['name']}" for name, proxy in proxies.items() for t in proxy["toxics"]]


def _qdiscs() -> list[str]:
    shown = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    return [line for line in shown.splitlines() if "netem" in line]


def _redis_paused() -> list[str]:
    """A write that does not answer within a second: a CLIENT PAUSE still holds Redis."""
    client = redis.Redis.from_url(secrets()["redis_url"], socket_timeout=1)
    try:
        client.set("coffee_chaos:leftovers", 1, px=1000)
    except redis.RedisError as exc:
        return [f"a write to Redis: {exc}"]
    finally:
        client.close()
    return []


def _redis_limits() -> list[str]:
    """Redis's maxmemory and policy where they differ from its config file's (or defaults)."""
    configured = dict(REDIS_DEFAULTS)
    for line in REDIS_CONFIG.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in configured:
            configured[words[0]] = words[1]
    client = connect_redis()
    found = {key: client.config_get(key)[key] for key in configured}
    return [
        f"{key} {found[key]} (configured {value})"
        for key, value in configured.items()
        if found[key] != value
    ]


def _seeds() -> list[str]:
    with connect_db() as conn:
        if conn.execute("SELECT to_regclass('coffee_chaos.seeds')").fetchone()[0] is None:
            return []
        rows = conn.execute("SELECT name, first_id, last_id FROM coffee_chaos.seeds").fetchall()
    return [f"{name} ids {first}-{last}" for name, first, last in rows]


def _database() -> list[str]:
    """Holders' sessions still open (after a short grace: the server notices a killed
    holder's connections close) and a read-only setting left on the database."""

    def held() -> list[tuple[str, int]]:
        with connect_db() as conn:
            return conn.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE application_name IN (%s, %s) GROUP BY 1",
                (LOCK_APPLICATION, HOG_APPLICATION),
            ).fetchall()

    try:
        sessions = wait_until(lambda: not held(), timeout=5) and []
    except AssertionError:
        sessions = held()
    with connect_db() as conn:
        read_only = conn.execute(
            "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, "
            "unnest(s.setconfig) c WHERE d.datname = current_database() AND s.setrole = 0 "
            "AND c LIKE 'default_transaction_read_only=%'"
        ).fetchall()
    return [f"{count} session(s) of {name}" for name, count in sessions] + [
        f"database setting {setting}" for (setting,) in read_only
    ]


def _ledgers(target: Target) -> list[str]:
    books = [ledger.ledger_for(target)] + [ledger.Ledger(d) for d, _ in registry.ledgers()]
    return sorted(
        {f"{book.directory}: {e['kind']} {e['subject']}" for book in books for e in book.entries()}
        | {f"{book.directory}: unreadable {p}" for book in books for p, _ in book.unreadable()}
    )
