"""How the safety control reads a finished run: every method probe is an expectation met,
unmet (with what was expected and observed), or not judged; no lab needed."""

from __future__ import annotations

import json

from controls import evidence, safety
from gameday.verdict import read_verdict


def _probe(name: str, status: str = "succeeded", output=None, expectation=None) -> dict:
    run = {"activity": {"type": "probe", "name": name}, "status": status, "output": output}
    if expectation:
        run["expectation"] = expectation
        run["exception"] = ["ActivityFailed: expected ..."]
    return run


def _journal(runs: list[dict], planned: list[str], status: str = "completed") -> dict:
    method = [{"type": "probe", "name": name} for name in planned]
    return {"status": status, "deviated": False, "run": runs, "experiment": {"method": method}}


def test_unmet_expectations_carry_what_was_expected_and_observed():
    failure = {"expected": "P99 <= 2500 ms", "observed": "P99 22000 ms (20 still open)"}
    journal = _journal(
        [_probe("answers-stay-bounded", "failed", expectation=failure), _probe("time-to-recover")],
        ["answers-stay-bounded", "time-to-recover"],
    )
    facts: dict = {}
    safety._judge_method(journal, facts)
    assert journal["deviated"] is True and journal["status"] == "completed"
    (unmet,) = facts["unmet_expectations"]
    assert unmet["name"] == "answers-stay-bounded" and unmet["observed"].startswith("P99 22000")
    assert facts["not_judged"] == []


def test_what_the_target_cannot_offer_is_not_judged_and_not_a_deviation():
    output = evidence.not_available("api not restarted", "the kubernetes platform gives no uptime")
    journal = _journal(
        [_probe("api-recovered-without-a-restart", output=output)],
        ["api-recovered-without-a-restart", "no-acknowledged-order-lost"],
        status="interrupted",
    )
    facts: dict = {}
    safety._judge_method(journal, facts)
    assert not journal["deviated"]
    assert facts["not_judged"] == [
        {"name": "api-recovered-without-a-restart", "reason": output["not_available"]},
        {"name": "no-acknowledged-order-lost", "reason": "not reached"},
    ]


def test_the_evidence_of_a_probe_is_taken_once():
    message = evidence.unmet("an order accepted", "503")
    assert message == "expected an order accepted; observed 503"
    assert evidence.take() == {"expected": "an order accepted", "observed": "503"}
    assert evidence.take() is None


def test_a_verdict_lists_failures_not_judged_and_the_safeguard_that_stopped_it(tmp_path):
    journal = {
        "status": "interrupted",
        "deviated": False,
        "experiment": {"title": "t"},
        "run": [],
        "coffee_chaos": {
            "unmet_expectations": [
                {"name": "readyz-names-redis", "expected": "503", "observed": "200"}
            ],
            "not_judged": [{"name": "pool", "reason": "pool-gauge: not on this target"}],
            "interrupted_by": {"safeguard": "kill-switch-is-off", "reason": "returned False"},
        },
    }
    (tmp_path / "journal.json").write_text(json.dumps(journal))
    summary = read_verdict(tmp_path, tmp_path / "e.json", 1).summary()
    assert summary.startswith("INTERRUPTED: t; stopped by kill-switch-is-off")
    assert "unmet: readyz-names-redis: expected 503, observed 200" in summary
    assert "not judged: pool: pool-gauge: not on this target" in summary
