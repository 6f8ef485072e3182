"""A full Redis (maxmemory below its use, noeviction) against the lab's real Redis: the previous
values recorded first, writes refused and reads served meanwhile, set back by restore and by
`recover` after a SIGKILLed runner; bad input refused before Redis is touched."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
from cafe_helpers import connect_redis
from target_files import write_target

from gameday import ledger, redismemory, resp
from gameday.target import load_target

KEY = "coffee-chaos:test-maxmemory"


def config() -> tuple[str, str]:
    client = connect_redis()
    return (
        client.config_get("maxmemory")["maxmemory"],
        client.config_get("maxmemory-policy")["maxmemory-policy"],
    )


def write_refused() -> bool:
    client = connect_redis()
    try:
        client.set(KEY, "1", ex=5)
    except redis.exceptions.OutOfMemoryError:
        return True
    return False


@pytest.mark.lab
def test_a_limit_refuses_writes_serves_reads_and_restore_sets_it_back(target) -> None:
    before = config()
    connect_redis().set(KEY, "kept", ex=60)
    limited = redismemory.limit(target, 0.5)
    [entry] = ledger.ledger_for(target).entries()
    assert entry["kind"] == "redis_maxmemory" and entry["id"] == limited["ledger_id"]
    assert entry["revert"] == {"maxmemory": before[0], "maxmemory_policy": before[1]}
    assert "redis://" not in str(entry), "no credential in the ledger"
    assert 0 < limited["maxmemory"] < limited["used_memory"]
    assert config() == (str(limited["maxmemory"]), "noeviction")
    assert write_refused()
    assert connect_redis().get(KEY) == b"kept", "reads go on, nothing evicted"
    with pytest.raises(redismemory.RedisMemoryError, match="already lowered"):
        redismemory.limit(target, 0.5)

    restored = redismemory.restore(target)
    assert restored["changed"] and restored["resolved"] == [limited["ledger_id"]]
    assert config() == before and not write_refused()
    assert ledger.ledger_for(target).entries() == []
    assert redismemory.restore(target)["changed"] is False


@pytest.mark.lab
def test_a_limit_left_by_a_sigkilled_runner_is_set_back_by_recover(target, tmp_path) -> None:
    before = config()
    script = (
        "import os, signal, sys\n"
        "from gameday import redismemory\n"
        "from gameday.target import load_target\n"
        "redismemory.limit(load_target({'target_file': sys.argv[1]}), 0.3)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target.json")], timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert write_refused()
    # recovery as `make recover` runs it: the machine's python3, no site-packages
    recovered = subprocess.run(
        [
            "/usr/bin/python3",
            "-S",
            "-c",
            "import sys\n"
            "from gameday import ledger\n"
            "from gameday.target import load_target\n"
            "print(ledger.recover(load_target({'target_file': sys.argv[1]})))\n",
            str(tmp_path / "target.json"),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert recovered.returncode == 0, recovered.stderr
    assert "redis_maxmemory" in recovered.stdout
    assert config() == before and not write_refused()
    assert ledger.recover(target) == []


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.2, "half", True])
def test_bad_input_is_refused_naming_it_before_anything_changes(tmp_path, share):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(redismemory.RedisMemoryError) as exc:
        redismemory.limit(lab, share)
    assert "share_of_used" in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []


def test_the_client_refuses_a_url_it_cannot_follow_without_naming_the_password():
    with pytest.raises(resp.RespError) as exc:
        resp.call("http://user:s3cret@127.0.0.1:6379/0", 1, ("PING",))
    assert "scheme 'http'" in str(exc.value) and "s3cret" not in str(exc.value)


def fake_redis(path: str, replies: list[bytes]) -> list[list[str]]:
    """A server on the unix socket ``path`` that answers each command with the next of
    ``replies`` (any connection); the commands it received, filled in as they come."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    received: list[list[str]] = []

    def serve() -> None:
        with listener:
            while replies:
                conn, _ = listener.accept()
                with conn, conn.makefile("rb") as reader:
                    while replies and (line := reader.readline()):
                        words = [
                            reader.readline() and reader.readline()[:-2].decode()
                            for _ in range(int(line[1:]))
                        ]
                        received.append(words)
                        conn.sendall(replies.pop(0))

    threading.Thread(target=serve, daemon=True).start()
    return received


def test_the_client_reads_every_reply_kind(tmp_path):
    path = str(tmp_path / "fake.sock")
    replies = [b"+OK\r\n", b":7\r\n", b"$5\r\nhello\r\n", b"*2\r\n$1\r\na\r\n$-1\r\n"]
    received = fake_redis(path, [*replies, b"-ERR no such thing\r\n"])
    url = f"unix://{path}"
    assert resp.call(url, 2, ("A",), ("B",), ("C", 1), ("D",)) == [
        "OK",
        7,
        "hello",
        ["a", None],
    ]
    with pytest.raises(resp.RespError, match="BAD: ERR no such thing"):
        resp.call(url, 2, ("BAD",))
    assert received == [["A"], ["B"], ["C", "1"], ["D"], ["BAD"]]


def test_a_limit_refused_half_way_puts_both_values_back(tmp_path):
    """A Redis that takes the policy but refuses the maxmemory: the revert runs at once."""
    lab = load_target(write_target(tmp_path))
    path = str(tmp_path / "fake.sock")
    replies = [
        b"*2\r\n$9\r\nmaxmemory\r\n$3\r\n100\r\n",
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n",
        b"$28\r\n# Memory\r\nused_memory:1000\r\n\r\n",
        b"+OK\r\n",
        b"-ERR CONFIG SET failed\r\n",
        b"+OK\r\n",
        b"+OK\r\n",
    ]
    received = fake_redis(path, replies)
    secrets = {"coffee": {"postgres_dsn": "postgresql:///x", "redis_url": f"unix://{path}"}}
    with pytest.raises(redismemory.RedisMemoryError, match="CONFIG SET failed"):
        redismemory.limit(lab, 0.5, secrets)
    assert received[3:] == [
        ["CONFIG", "SET", "maxmemory-policy", "noeviction"],
        ["CONFIG", "SET", "maxmemory", "500"],
        ["CONFIG", "SET", "maxmemory", "100"],
        ["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    ]
    assert ledger.ledger_for(lab).entries() == []
