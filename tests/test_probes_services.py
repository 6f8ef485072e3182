"""probes.services judges the outages a flapping or a crash recorded against the load's live
statistics (no lab needed: the outage record and the live file written here stand for a
run)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from chaoslib.exceptions import ActivityFailed
from target_files import write_target

from gameday.flapping import FLAP_FILE
from probes import services

ORDERS = "/api/v1/order"


@pytest.fixture
def crashed(tmp_path):
    """A load run started a minute ago and the API crashed 10 s ago for 2 s of a 6 s fault;
    the test gives the codes answered each second since the crash."""
    configuration = write_target(tmp_path)
    state = tmp_path / "state"
    live = tmp_path / "live.jsonl"
    (state / "load").mkdir(parents=True)
    now = time.time()
    started = datetime.fromtimestamp(now - 60, UTC).isoformat()
    (state / "load" / "current.json").write_text(
        json.dumps({"run_dir": str(tmp_path), "live_file": str(live), "started_at": started})
    )
    record = {
        "service": "api",
        "began_at": now - 10,
        "ended_at": now - 4,
        "outages": [{"killed_at": now - 10, "back_at": now - 8, "down_s": 2}],
        "down_share": 0.33,
        "cycles": 1,
        "down_total_s": 2,
        "restarted_s": 1.1,
        "first_good_answer_s": 2,
        "answer_deadline_s": 5,
    }
    (state / FLAP_FILE).write_text(json.dumps(record))

    def write(*seconds: dict[str, int]) -> None:
        lines = []
        for i, codes in enumerate(seconds):
            failures = sum(n for code, n in codes.items() if code != "200")
            stats = {"count": sum(codes.values()), "failures": failures, "codes": codes}
            stats["hist"] = {"3.0": stats["count"]}
            lines.append(json.dumps({"t": int(now) - 10 + i, "by_name": {ORDERS: stats}}))
        live.write_text("\n".join(lines) + "\n")

    return configuration, write


def test_refused_requests_while_the_api_was_down_are_within_the_share(crashed):
    configuration, write = crashed
    write({"0": 4}, {"0": 3, "503": 1}, *[{"200": 4}] * 6)
    facts = services.failures_within_down_share(
        margin=0.1, allowed=[0, 200, 503], settle_s=0, configuration=configuration
    )
    assert facts["failures"] == 8 and facts["failure_ratio"] <= facts["bound"]


def test_a_500_while_the_api_starts_is_unmet_even_within_the_share(crashed):
    configuration, write = crashed
    write({"0": 4}, {"500": 1, "200": 3}, *[{"200": 4}] * 6)
    with pytest.raises(ActivityFailed) as failed:
        services.failures_within_down_share(
            margin=0.1, allowed=[0, 200, 503], settle_s=0, configuration=configuration
        )
    assert "only [0, 200, 503]" in str(failed.value) and "'500': 1" in str(failed.value)


def test_the_first_good_answer_is_judged_against_its_bound(crashed):
    configuration, _ = crashed
    assert services.answers_again_within(3, configuration=configuration)["first_good_answer_s"] == 2
    with pytest.raises(ActivityFailed) as late:
        services.answers_again_within(1.5, configuration=configuration)
    assert "within 1.5 s of the kill" in str(late.value) and "2 s" in str(late.value)
