"""How a run answers signals: gameday.interrupts (windows no signal may cut in half) and
controls.signals (interrupt the method, then note signals during cleanup).

Signals are sent to this very process (or to a child python for the forced exit), so the
order of delivery is deterministic; every handler is restored after each test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controls import signals
from gameday import interrupts

REPO = Path(__file__).resolve().parent.parent
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@pytest.fixture(autouse=True)
def _handlers_restored():
    """Each test starts with the default handlers, as a run from a terminal does (a suite
    started under nohup would have SIGHUP ignored, which a run keeps ignoring)."""
    saved = {signum: signal.getsignal(signum) for signum in HANDLED}
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_signal_inside_a_deferred_window_is_delivered_when_it_closes():
    seen: list[str] = []
    signal.signal(signal.SIGTERM, lambda n, _: seen.append(f"handler {signal.Signals(n).name}"))
    signal.signal(signal.SIGHUP, lambda n, _: seen.append(f"handler {signal.Signals(n).name}"))
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        seen.append("window done")
    assert seen == ["window done", "handler SIGTERM", "handler SIGHUP"]


def test_a_deferred_signal_that_raises_raises_after_the_window():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(20))
    done = []
    with pytest.raises(SystemExit) as exc, interrupts.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        done.append("the kill finished")
    assert done == ["the kill finished"] and exc.value.code == 20


def test_an_ignored_signal_stays_ignored_through_a_window():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # and we are still here


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_termination_signals_interrupt_the_method_so_the_rollbacks_run(signum):
    signals.install(lambda: "")
    with pytest.raises(SystemExit) as exc:
        os.kill(os.getpid(), signum)
    assert exc.value.code == 20  # chaostoolkit plays the rollbacks on 20


def test_ctrl_c_interrupts_even_when_the_run_inherited_it_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signals.install(lambda: "")
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


def test_sighup_stays_ignored_under_nohup():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signals.install(lambda: "")
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_during_cleanup_signals_are_noted_not_obeyed():
    signals.install(lambda: "")
    signals.begin_cleanup()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        os.kill(os.getpid(), signum)
    assert signals.noted() == ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"]


FORCED = """
import os, signal, time
from controls import signals
signals.install(lambda: "service redis")
signals.begin_cleanup()
for _ in range(3):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
print("cleanup went on")
"""


def test_three_ctrl_c_within_2_s_during_cleanup_force_the_exit_naming_what_is_left():
    done = subprocess.run(
        [sys.executable, "-c", FORCED], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == signals.FORCED_EXIT_CODE
    assert "cleanup went on" not in done.stdout
    assert "still holds service redis" in done.stderr and "make recover" in done.stderr


def test_two_ctrl_c_during_cleanup_do_not_force_the_exit():
    signals.install(lambda: "service redis")
    signals.begin_cleanup()
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
    assert signals.noted() == ["SIGINT", "SIGINT"]  # and we are still here
