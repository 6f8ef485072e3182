"""A flapping service against the lab's real Redis under supervisor: each kill recorded as a
kill is, the service running again after the last outage, and after a runner SIGKILLed in
an outage `recover` starts it; bad input refused naming it before anything is touched."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cafe_helpers import connect_redis, wait_until
from target_files import write_target

from gameday import flapping, ledger, services
from gameday.errors import ServiceError
from gameday.target import load_target

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.lab
def test_a_flapping_service_goes_down_each_period_and_runs_again_after(target) -> None:
    first_pid = services.status("redis", target)["pid"]
    began = time.monotonic()
    flapped = flapping.flap("redis", target, period_s=3, down_s=1, fault_s=6)
    took = time.monotonic() - began
    assert flapped["cycles"] == 2 and 5.5 <= took < 9
    assert all(1 <= outage["down_s"] < 3 for outage in flapped["outages"])
    gap = flapped["outages"][1]["killed_at"] - flapped["outages"][0]["killed_at"]
    assert 2.9 <= gap <= 3.5, "one kill every period_s"
    assert 0 < flapped["down_share"] < 1
    assert json.loads((target.state_dir / flapping.FLAP_FILE).read_text()) == flapped
    after = services.status("redis", target)
    assert after["running"] and after["pid"] != first_pid
    assert ledger.ledger_for(target).entries() == [], "each start resolved its kill"
    assert wait_until(connect_redis().ping, 5)


@pytest.mark.lab
def test_a_runner_sigkilled_in_an_outage_leaves_a_kill_that_recover_reverts(
    target, tmp_path
) -> None:
    script = (
        "import sys\n"
        "from gameday import flapping\n"
        "from gameday.target import load_target\n"
        "flapping.flap('redis', load_target({'target_file': sys.argv[1]}), 20, 15, 40)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "target.json")])
    book = ledger.ledger_for(target)
    try:
        wait_until(lambda: not services.status("redis", target)["running"], 15)
        [entry] = book.entries()
        assert entry["kind"] == "service" and "SIGKILL" in entry["note"]
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    assert not services.status("redis", target)["running"], "left down"
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
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert recovered.returncode == 0, recovered.stderr
    assert services.status("redis", target)["running"] and book.entries() == []


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"period_s": 0}, "period_s"),
        ({"down_s": -1}, "down_s"),
        ({"fault_s": "60"}, "fault_s"),
        ({"period_s": True}, "period_s"),
        ({"down_s": 10}, "down_s (10) must be under period_s"),
        ({"fault_s": 5}, "fault_s (5) must be at least period_s"),
        ({"fault_s": 3601}, "at most 3600"),
    ],
)
def test_bad_input_is_refused_naming_it_before_anything_changes(tmp_path, arguments, names):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(ServiceError) as exc:
        flapping.flap("redis", lab, **{"period_s": 10, "down_s": 3, "fault_s": 60, **arguments})
    assert names in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
