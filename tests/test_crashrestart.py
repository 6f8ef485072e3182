"""The API crashed under a restart policy, against the lab's real supervisor: killed,
started again at once, its first good answer timed from the kill and the outage recorded;
bad input refused naming it before anything is touched."""

from __future__ import annotations

import json
import time

import pytest
from target_files import write_target

from gameday import crashrestart, flapping, ledger, services
from gameday.errors import ServiceError
from gameday.target import load_target


@pytest.mark.lab
def test_the_api_is_killed_started_at_once_and_answers_again(target) -> None:
    first_pid = services.status("api", target)["pid"]
    began = time.monotonic()
    crash = crashrestart.crash_and_restart("api", target, fault_s=8, answer_deadline_s=8)
    assert 7.9 <= time.monotonic() - began < 12, "the fault lasts fault_s from the kill"
    assert 0 < crash["restarted_s"] <= crash["first_good_answer_s"] <= 8
    [outage] = crash["outages"]
    assert outage["down_s"] == crash["first_good_answer_s"]
    assert crash["down_share"] == pytest.approx(outage["down_s"] / 8, abs=0.05)
    assert json.loads((target.state_dir / flapping.FLAP_FILE).read_text()) == crash
    after = services.status("api", target)
    assert after["running"] and after["pid"] != first_pid
    assert ledger.ledger_for(target).entries() == [], "the start resolved the kill"


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"fault_s": 0}, "fault_s"),
        ({"answer_deadline_s": -1}, "answer_deadline_s"),
        ({"fault_s": True}, "fault_s"),
        ({"answer_deadline_s": 40}, "answer_deadline_s (40) must be at most fault_s (30)"),
        ({"fault_s": 3601, "answer_deadline_s": 5}, "at most 3600"),
    ],
)
def test_bad_input_is_refused_naming_it_before_anything_changes(tmp_path, arguments, names):
    lab = load_target(write_target(tmp_path))
    with pytest.raises(ServiceError) as exc:
        crashrestart.crash_and_restart(
            "api", lab, **{"fault_s": 30, "answer_deadline_s": 10, **arguments}
        )
    assert names in str(exc.value)
    assert ledger.ledger_for(lab).entries() == []
