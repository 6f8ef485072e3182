"""CLIENT PAUSE against the lab's real Redis: recorded first, undone by unpause and by `recover`
after a SIGKILLed runner; bad input refused before Redis is touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from cafe_helpers import connect_redis, secrets
from system_recover import recover_with_system_python
from target_files import write_target

from gameday import ledger, redispause, resp
from gameday.target import load_target


def write_waits() -> bool:
    """Whether a write is held (a 0.5 s timeout runs out)."""
    client = redis.Redis.from_url(secrets()["redis_url"], socket_timeout=0.5)
    try:
        client.set("coffee-chaos:test-pause", "1", ex=5)
    except redis.TimeoutError:
        return True
    finally:
        client.close()
    return False


@pytest.mark.lab
def test_a_write_pause_holds_writes_not_reads_until_unpaused(target) -> None:
    paused = redispause.pause(target, 30, "WRITE")
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "redis_pause" and entry["id"] == paused["ledger_id"]
    assert "redis://" not in str(entry), "no credential in the ledger"
    assert write_waits()
    assert connect_redis().get("coffee-chaos:nothing") is None  # reads go on

    unpaused = redispause.unpause(target)
    assert unpaused["changed"] and unpaused["seconds"] < 2
    assert not write_waits() and ledger.ledger_for(target).entries() == []
    assert redispause.unpause(target)["changed"] is False


@pytest.mark.lab
def test_an_all_pause_is_waited_out_by_the_revert(target) -> None:
    redispause.pause(target, 1.5, "ALL")
    began = time.monotonic()
    redispause.unpause(target)
    assert 0.5 < time.monotonic() - began < 5, "UNPAUSE is held until an ALL pause ends"
    assert connect_redis().ping()


@pytest.mark.lab
def test_an_all_pause_longer_than_the_connect_timeout_is_waited_out_by_select_too(target):
    """The revert's SELECT (a db other than 0) waits out the pause as UNPAUSE does."""
    db1 = urlunsplit(urlsplit(secrets()["redis_url"])._replace(path="/1"))
    scope = {**secrets(), "redis_url": db1}
    redispause.pause(target, resp.CONNECT_TIMEOUT_S + 1, "ALL")
    began = time.monotonic()
    assert redispause.unpause(target, {"coffee": scope})["changed"]
    assert resp.CONNECT_TIMEOUT_S < time.monotonic() - began < resp.CONNECT_TIMEOUT_S + 5
    assert connect_redis().ping()


@pytest.mark.lab
def test_a_pause_left_by_a_sigkilled_runner_is_undone_by_recover(target, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from gameday import redispause\n"
        "from gameday.target import load_target\n"
        "redispause.pause(load_target({'target_file': sys.argv[1]}), 60, 'WRITE')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert write_waits()
    [reverted] = recover_with_system_python(tmp_path / "target.json")
    assert reverted["kind"] == "redis_pause" and reverted["result"]["unpaused"]
    assert not write_waits() and ledger.recover(target) == []


@pytest.mark.parametrize(
    ("arguments", "names"),
    [({"pause_s": 0}, "pause_s"), ({"pause_s": 601}, "pause_s"), ({"mode": "READ"}, "mode")],
)
def test_bad_input_is_refused_naming_it_before_anything_changes(tmp_path, arguments, names):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(redispause.RedisPauseError) as exc:
        redispause.pause(lab, **{"pause_s": 10, **arguments})
    assert names in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
