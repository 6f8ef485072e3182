"""gameday.target: the target file, its optional load section (remote Locust workers), its errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gameday import livestats
from gameday.errors import GamedayError
from gameday.target import (
    ENGINE_KEYS,
    RUN_DIR_ENV,
    Deployment,
    LoadSection,
    TargetError,
    _configuration_fields,
    load_target,
)


def _target_with(tmp_path: Path, **extra) -> dict:
    raw = {"api_url": "http://127.0.0.1:8005", "services": {}, **extra}
    path = tmp_path / "target.json"
    path.write_text(json.dumps(raw))
    return {"target_file": str(path)}


def test_without_a_load_section_the_master_binds_loopback_and_expects_no_remote_worker(
    tmp_path,
):
    load = load_target(_target_with(tmp_path)).load
    assert load == LoadSection("127.0.0.1", 5557, 0)
    assert load.bind_is_loopback


def test_the_load_section_is_read(tmp_path):
    section = {"master_bind_host": "192.0.2.10", "master_port": 6000, "remote_workers": 4}
    load = load_target(_target_with(tmp_path, load=section)).load
    assert load == LoadSection("192.0.2.10", 6000, 4)
    assert not load.bind_is_loopback


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"master_bind_host": "master.example"}, "master_bind_host must be an IP address"),
        ({"master_bind_host": 5}, "master_bind_host must be an IP address"),
        ({"master_port": 0}, "master_port must be a TCP port from 1 to 65535, got 0"),
        ({"master_port": "5557"}, "master_port must be a TCP port from 1 to 65535, got '5557'"),
        ({"remote_workers": -1}, "remote_workers must be a whole number >= 0"),
        ({"remote_workers": 1.5}, "remote_workers must be a whole number >= 0"),
        ({"remote_workers": True}, "remote_workers must be a whole number >= 0"),
        ({"workers": 2}, "unknown key(s) workers: it takes master_bind_host"),
        ([], "load must be an object"),
    ],
)
def test_a_bad_load_section_is_refused_naming_the_key(tmp_path, section, message):
    with pytest.raises(TargetError) as exc:
        load_target(_target_with(tmp_path, load=section))
    assert message in str(exc.value)
    assert str(tmp_path / "target.json") in str(exc.value)


def test_the_deployment_the_cafe_role_records_is_read(tmp_path):
    assert load_target(_target_with(tmp_path)).deployment is None
    recorded = {"stamp": "63a2c33c", "deployed_at": "2026-11-30T07:32:59Z"}
    deployment = load_target(_target_with(tmp_path, deployment=recorded)).deployment
    assert deployment == Deployment("63a2c33c", datetime(2026, 11, 30, 7, 32, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    "deployment",
    [
        {"stamp": "", "deployed_at": "2026-11-30T07:32:59Z"},
        {"stamp": "ab"},
        "ab",
        {"stamp": "ab", "deployed_at": "yesterday"},
    ],
)
def test_a_bad_deployment_is_refused_naming_it(tmp_path, deployment):
    with pytest.raises(
        TargetError, match='deployment must be {"stamp": "<checksum>", "deployed_at"'
    ):
        load_target(_target_with(tmp_path, deployment=deployment))


def test_target_and_live_statistics_errors_are_gameday_errors(tmp_path):
    with pytest.raises(GamedayError) as exc:
        load_target({"target_file": str(tmp_path / "absent.json")})
    assert f"target file {tmp_path / 'absent.json'} does not exist" in str(exc.value)
    with pytest.raises(GamedayError) as exc:
        livestats.read_seconds(tmp_path / "live.jsonl")
    assert "live.jsonl does not exist: is the load running" in str(exc.value)


def test_the_configuration_keys_have_their_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    target = load_target(_target_with(tmp_path))
    assert (target.allow_remote_target, target.load_workers) == (False, 0)
    assert (target.postgres_schema, target.netem_interface) == ("coffee_rt", None)
    assert target.service_env_dir == Path("/etc/coffee-chaos")
    assert target.aggregator_metrics_url == "http://127.0.0.1:8006/metrics"
    assert target.run_dir.parent == Path("runs").resolve()


def test_the_configuration_keys_are_read_and_gameday_var_strings_coerced(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    settings = {
        "allow_remote_target": "true",  # gameday run --var allow_remote_target=true
        "load_workers": "2",
        "postgres_schema": "scratch_1",
        "netem_interface": "eth0",
        "service_env_dir": str(tmp_path / "env"),
        "run_dir": str(tmp_path / "run"),
        "aggregator_metrics_url": "http://127.0.0.1:9999/metrics/",
    }
    target = load_target({**_target_with(tmp_path), **settings})
    assert (target.allow_remote_target, target.load_workers) == (True, 2)
    assert (target.postgres_schema, target.netem_interface) == ("scratch_1", "eth0")
    assert (target.service_env_dir, target.run_dir) == (tmp_path / "env", tmp_path / "run")
    assert target.aggregator_metrics_url == "http://127.0.0.1:9999/metrics"
    false = load_target({**_target_with(tmp_path), "allow_remote_target": "false"})
    assert false.allow_remote_target is False


def test_the_run_dir_of_the_environment_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "from-env"))
    target = load_target({**_target_with(tmp_path), "run_dir": str(tmp_path / "cfg")})
    assert target.run_dir == tmp_path / "from-env"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allow_remote_target": "maybe"}, "allow_remote_target must be true or false"),
        ({"allow_remote_target": 1}, "allow_remote_target must be true or false, got 1"),
        ({"load_workers": "two"}, "load_workers must be a whole number of local Locust workers"),
        ({"load_workers": -1}, "load_workers must be a whole number"),
        ({"postgres_schema": "x; drop"}, "postgres_schema must be a plain SQL identifier"),
        ({"netem_interface": "eth 0"}, "netem_interface must be a network interface"),
        ({"service_env_dir": 5}, "service_env_dir must be a directory, got 5"),
        ({"run_dir": ["runs"]}, "run_dir must be a directory"),
        ({"api_url": "127.0.0.1:8005"}, "api_url must be an http(s) URL"),
        ({"prometheus_url": "ftp://x"}, "prometheus_url must be an http(s) URL"),
    ],
)
def test_a_bad_configuration_value_is_refused_naming_the_key(tmp_path, settings, message):
    with pytest.raises(TargetError) as exc:
        load_target({**_target_with(tmp_path), **settings})
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "key", ["api_url", "prometheus_url", "faultproxy_url", "aggregator_metrics_url"]
)
@pytest.mark.parametrize("where", ["target file", "configuration"])
def test_every_url_the_toolkit_calls_must_be_loopback_unless_allowed(tmp_path, key, where):
    remote = {key: "http://192.0.2.10:8474"}
    in_file = remote if where == "target file" else {}
    configuration = {**_target_with(tmp_path, **in_file), **(remote if not in_file else {})}
    with pytest.raises(TargetError) as exc:
        load_target(configuration)
    assert key in str(exc.value) and "192.0.2.10" in str(exc.value)
    assert "allow_remote_target: true" in str(exc.value)
    allowed = load_target({**configuration, "allow_remote_target": True})
    assert getattr(allowed, key) == "http://192.0.2.10:8474"


def test_a_supervisor_reached_over_http_must_be_loopback_too(tmp_path):
    configuration = _target_with(tmp_path, supervisor_url="http://192.0.2.10:9001")
    with pytest.raises(TargetError) as exc:
        load_target(configuration)
    assert "supervisor_url" in str(exc.value) and "192.0.2.10" in str(exc.value)
    assert load_target(_target_with(tmp_path, supervisor_url="http://127.0.0.1:9001"))


def test_the_netem_interface_must_exist_and_be_loopback_unless_allowed(tmp_path):
    with pytest.raises(TargetError) as exc:
        load_target({**_target_with(tmp_path), "netem_interface": "nosuch0"})
    assert "netem_interface 'nosuch0'" in str(exc.value) and "no such interface" in str(exc.value)
    assert load_target({**_target_with(tmp_path), "netem_interface": "lo"}).netem_interface == "lo"
    others = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    if others:
        with pytest.raises(TargetError) as exc:
            load_target({**_target_with(tmp_path), "netem_interface": others[0]})
        assert "allow_remote_target: true" in str(exc.value)


def test_engine_keys_are_every_configuration_key_the_engine_reads():
    assert set(ENGINE_KEYS) == {"target_file", *_configuration_fields({})}
