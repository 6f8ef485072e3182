"""gameday.seedrevert: how recovery without the venv reaches PostgreSQL, and what it refuses.

No database is touched here: the DSN's translation into libpq's environment, and the
refusal of an entry that names no seeded block, come before psql runs. The deletion itself
is tested against the lab (tests/test_recover.py, the crash matrix).
"""

from __future__ import annotations

import pytest
from target_files import write_target

from gameday.seedrevert import SeedRevertError, libpq_environment, revert
from gameday.target import load_target


def test_a_url_dsn_becomes_libpq_environment_variables():
    env = libpq_environment("postgresql://coffee:p%40ss@127.0.0.1:5432/coffee?sslmode=disable")
    assert env == {
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": "coffee",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "coffee",
        "PGSSLMODE": "disable",
    }


def test_a_keyword_dsn_becomes_libpq_environment_variables():
    env = libpq_environment("host=/var/run/postgresql dbname=coffee user=coffee password='a b'")
    assert env == {
        "PGHOST": "/var/run/postgresql",
        "PGDATABASE": "coffee",
        "PGUSER": "coffee",
        "PGPASSWORD": "a b",
    }


def test_a_dsn_parameter_psql_cannot_take_from_the_environment_is_named():
    with pytest.raises(SeedRevertError) as exc:
        libpq_environment("postgresql://coffee@127.0.0.1/coffee?target_session_attrs=any")
    assert "target_session_attrs" in str(exc.value) and "gameday recover" in str(exc.value)


@pytest.mark.parametrize(
    "revert_spec",
    [
        {"table": "public.orders; DROP TABLE x", "first_id": 1, "last_id": 2},
        {"table": "public.orders", "first_id": "1", "last_id": 2},
        {"table": "orders", "first_id": 1, "last_id": 2},
        {},
    ],
)
def test_an_entry_that_names_no_seeded_block_is_refused_before_psql(tmp_path, revert_spec):
    target = load_target(write_target(tmp_path))
    entry = {"id": "1-seed-x", "kind": "seed", "subject": "bulk", "revert": revert_spec}
    with pytest.raises(SeedRevertError) as exc:
        revert(entry, target)
    assert "does not name a seeded block" in str(exc.value) and "by hand" in str(exc.value)
