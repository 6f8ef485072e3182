"""Fault windows come from the marks fault actions leave in their results, not from names."""

from __future__ import annotations

from gameday.faultwindows import fault_windows

T0 = 1_795_744_800.0  # 2026-11-27T02:00:00Z


def _run(name: str, output: dict) -> dict:
    return {"activity": {"name": name, "type": "action"}, "status": "succeeded", "output": output}


def _fault(ledger_id: str, kind: str, subject: str, at: float, note: str = "") -> dict:
    return {"kind": kind, "subject": subject, "ledger_id": ledger_id, "at": at, "note": note}


def test_every_fault_gets_its_window_closed_by_the_activity_that_reverted_it():
    journal = {
        "end": "2026-11-27T02:01:40+00:00",
        "run": [
            _run(
                "whatever-name", {"fault": _fault("a", "toxic", "redis", T0 + 10, "latency toxic")}
            ),
            _run("another", {"fault": _fault("b", "toxic", "redis", T0 + 30, "timeout toxic")}),
            _run(
                "remove",
                {
                    "reverts": [
                        _fault("a", "toxic", "redis", T0 + 50),
                        _fault("b", "toxic", "redis", T0 + 50),
                    ]
                },
            ),
        ],
    }
    windows = fault_windows(journal)
    assert [(w.start - T0, w.end - T0) for w in windows] == [(10, 50), (30, 50)]
    assert windows[0].label == "redis network fault (latency)"
    assert (
        windows[1].label == "redis network fault (timeout)" and windows[1].reverted_by == "remove"
    )


def test_a_fault_left_to_the_safety_control_closes_at_the_end_of_the_run():
    journal = {
        "end": "2026-11-27T02:01:40+00:00",
        "run": [_run("k", {"fault": _fault("a", "service", "redis", T0 + 5, "SIGKILL to ...")})],
        "rollbacks": [],
        "coffee_chaos": {"recovered": [{"id": "a", "kind": "service", "subject": "redis"}]},
    }
    (window,) = fault_windows(journal)
    assert window.end == T0 + 100 and window.label == "redis down (SIGKILL)"
    assert window.reverted_by == "the safety control, at the end of the run"


def test_a_rollback_closes_the_window_and_unmarked_results_are_ignored():
    journal = {
        "end": "2026-11-27T02:01:40+00:00",
        "run": [
            _run("k", {"fault": _fault("a", "seed", "quick", T0 + 5, "1000 seeded orders")}),
            _run("probe", {"p99_ms": 3}),
            {"activity": {"name": "x"}, "output": [1, 2]},
        ],
        "rollbacks": [_run("remove-seed", {"reverts": [_fault("a", "seed", "quick", T0 + 9)]})],
    }
    (window,) = fault_windows(journal)
    assert (window.start, window.end, window.reverted_by) == (T0 + 5, T0 + 9, "remove-seed")


def test_a_marked_action_says_what_it_recorded_and_resolved(tmp_path):
    """``controls.marks`` reads the real ledger before and after the action."""
    from target_files import write_target

    from controls.marks import marks_faults
    from gameday.ledger import ledger_for
    from gameday.target import load_target

    configuration = write_target(tmp_path)
    ledger = ledger_for(load_target(configuration))

    @marks_faults
    def inject(configuration=None, secrets=None):
        return {"id": ledger.record("toxic", "redis", {}, note="latency toxic {}")}

    @marks_faults
    def revert(configuration=None, secrets=None):
        for entry in ledger.entries():
            ledger.resolve(entry["id"])
        return {"done": True}

    injected = inject(configuration=configuration)
    reverted = revert(configuration=configuration)
    assert injected["fault"]["ledger_id"] == injected["id"]
    assert injected["fault"]["kind"] == "toxic" and injected["fault"]["note"] == "latency toxic {}"
    assert [r["ledger_id"] for r in reverted["reverts"]] == [injected["id"]]
    assert reverted["reverts"][0]["at"] >= injected["fault"]["at"]
    assert "reverts" not in injected and "fault" not in reverted


def test_a_flapping_service_gets_one_window_per_outage_it_recorded():
    outages = [
        {"killed_at": T0 + 5, "back_at": T0 + 9, "down_s": 4},
        {"killed_at": T0 + 15, "back_at": T0 + 18.5, "down_s": 3.5},
    ]
    journal = {
        "end": "2026-11-27T02:01:40+00:00",
        "run": [_run("flap-redis", {"service": "redis", "outages": outages, "cycles": 2})],
    }
    windows = fault_windows(journal)
    assert [(w.start - T0, w.end - T0) for w in windows] == [(5, 9), (15, 18.5)]
    assert {w.label for w in windows} == {"redis down (SIGKILL)"}
    assert {w.reverted_by for w in windows} == {"flap-redis"}
