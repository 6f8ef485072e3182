"""gameday.resp, the standard-library Redis client of recovery: the redis_url read as
redis-py reads it, refused when it says what the client cannot follow, the password in no
message; against the lab's real Redis, a command answered and a wrong password refused."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from cafe_helpers import secrets
from target_files import free_port

from gameday import resp

PASSWORD = "s3cret-pa@ss"
QUOTED = "s3cret-pa%40ss"


def test_a_url_gives_host_port_db_and_credentials() -> None:
    where = resp.address(f"redis://coffee:{QUOTED}@127.0.0.1:6380/2")
    assert (where.host, where.port, where.db, where.username) == ("127.0.0.1", 6380, 2, "coffee")
    assert where.password == PASSWORD
    assert str(where) == "127.0.0.1:6380" and PASSWORD not in repr(where)
    plain = resp.address("redis://:pw@localhost")
    assert (plain.host, plain.port, plain.db, plain.username) == ("localhost", 6379, 0, "")
    unix = resp.address("unix:///run/redis/redis.sock?db=3")
    assert (unix.path, unix.db, str(unix)) == ("/run/redis/redis.sock", 3, "/run/redis/redis.sock")


@pytest.mark.parametrize(
    ("url", "names"),
    [
        (f"http://:{QUOTED}@127.0.0.1:6379", "scheme 'http'"),
        (f"redis://:{QUOTED}@127.0.0.1:6379/cache", "db 'cache'"),
        (f"redis://:{QUOTED}@127.0.0.1:99999", "not a URL"),
        (f"redis://:{QUOTED}@127.0.0.1/?ssl_cert_reqs=none&db=1", "parameter(s) ssl_cert_reqs"),
    ],
)
def test_a_url_the_client_cannot_follow_is_refused_naming_why(url, names) -> None:
    with pytest.raises(resp.RespError) as exc:
        resp.address(url)
    assert names in str(exc.value) and "s3cret" not in str(exc.value)


def test_nothing_listening_is_an_error_naming_the_address_not_the_password() -> None:
    port = free_port()
    with pytest.raises(resp.RespError) as exc:
        resp.command(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", 1, "PING")
    assert f"127.0.0.1:{port}" in str(exc.value) and "s3cret" not in str(exc.value)


@pytest.mark.lab
def test_the_lab_redis_answers_through_the_url_credential() -> None:
    assert resp.command(secrets()["redis_url"], 3, "PING") == "PONG"


@pytest.mark.lab
def test_a_wrong_password_is_refused_without_being_named() -> None:
    parts = urlsplit(secrets()["redis_url"])
    netloc = f"{parts.username or ''}:{PASSWORD}@{parts.hostname}:{parts.port or 6379}"
    with pytest.raises(resp.RespError) as exc:
        resp.command(urlunsplit(parts._replace(netloc=netloc)), 3, "PING")
    assert "AUTH" in str(exc.value) and "s3cret" not in str(exc.value)
