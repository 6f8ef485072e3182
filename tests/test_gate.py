"""The health gate against the lab: ready and quiet passes; a frozen service, a pending
fault or the kill switch keeps it closed, and a gate that times out says why."""

from __future__ import annotations

import os
import signal

import pytest

from gameday import gate, ledger, services

pytestmark = pytest.mark.lab


def test_a_ready_quiet_lab_opens_the_gate_after_settle_s(lab):
    result = gate.wait(lab, settle_s=2, timeout_s=30)
    assert result.passed and 2 <= result.waited_s < 10, result


def test_a_frozen_service_keeps_the_gate_closed_and_the_timeout_says_why(lab):
    pid = services.status("aggregator", lab)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        found = gate.problems(lab)
        result = gate.wait(lab, settle_s=1, timeout_s=2)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert any(f"service aggregator is frozen (state T: pids [{pid}" in p for p in found), found
    assert not result.passed and "the health gate did not pass in 2 s" in result.reason
    assert "aggregator is frozen" in result.reason


def test_a_pending_fault_and_the_kill_switch_close_the_gate(lab):
    entry = ledger.ledger_for(lab).record("seed", "gate-test", {}, note="a test entry")
    lab.kill_switch.write_text("test\n")
    try:
        found = gate.problems(lab)
        stopped = gate.wait(lab, settle_s=1, timeout_s=30, stop=lambda: "aborted")
    finally:
        ledger.ledger_for(lab).resolve(entry)
        lab.kill_switch.unlink()
    assert any("the fault ledger holds seed gate-test" in p for p in found), found
    assert any("the kill switch" in p for p in found)
    assert not stopped.passed and stopped.reason == "aborted" and stopped.waited_s < 2
