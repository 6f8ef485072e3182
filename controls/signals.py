"""How `chaos run` answers signals, once the safety control has installed this.

Before cleanup, SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal or the SSH session
closed) and SIGQUIT interrupt the run: chaostoolkit answers the KeyboardInterrupt
or SystemExit raised here by stopping the method and playing the rollbacks.
SIGINT is taken over even when the run inherited it ignored (`chaos run ... &`
from a script); SIGHUP is left ignored under `nohup`.

Once cleanup has begun (the rollbacks, then the safety control's revert of the
ledger), further signals are noted and ignored until the run ends, so the cleanup
is never cut in half. Three Ctrl-C within 2 s still force the exit, saying what
the ledger still holds and that `make recover` reverts it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["begin_cleanup", "install", "noted"]
logger = logging.getLogger("chaostoolkit")

FORCE_PRESSES = 3
FORCE_WITHIN_S = 2.0
FORCED_EXIT_CODE = 130
_state: dict[str, Any] = {"cleanup": False, "noted": [], "presses": [], "left": lambda: ""}


def install(what_is_left: Callable[[], str]) -> None:
    """Interrupt the run on SIGINT, SIGTERM, SIGHUP and SIGQUIT; ``what_is_left`` says what
    the ledger holds, should three Ctrl-C force the exit during cleanup."""
    _state.update(cleanup=False, noted=[], presses=[], left=what_is_left)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGQUIT, _interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _interrupt)


def begin_cleanup() -> None:
    """From now on, note signals instead of acting on them."""
    if _state["cleanup"]:
        return
    _state["cleanup"] = True
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        if signal.getsignal(signum) is _interrupt:
            signal.signal(signum, _note)


def noted() -> list[str]:
    """The signals received and ignored during cleanup, by name."""
    return list(_state["noted"])


def _interrupt(signum: int, frame: Any) -> None:
    """Stop the method; chaostoolkit then plays the rollbacks."""
    name = signal.Signals(signum).name
    if signum == signal.SIGINT:
        _state["presses"].append(time.monotonic())
        raise KeyboardInterrupt
    logger.warning(f"{name} received: interrupting the experiment, then rolling back")
    raise SystemExit(20)  # chaostoolkit plays the rollbacks on exit code 20, not on 30


def _note(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    if signum == signal.SIGINT:
        now = time.monotonic()
        _state["presses"] = [t for t in _state["presses"] if now - t < FORCE_WITHIN_S] + [now]
        if len(_state["presses"]) >= FORCE_PRESSES:
            _force_exit()
    _state["noted"].append(name)
    logger.warning(
        f"{name} received during cleanup: ignored until the faults are reverted "
        f"(Ctrl-C {FORCE_PRESSES} times within {FORCE_WITHIN_S:g} s forces the exit)"
    )


def _force_exit() -> None:
    try:
        left = _state["left"]()
    except Exception as exc:  # the ledger itself may be what failed
        left = f"an unreadable ledger ({exc})"
    holds = f"still holds {left}" if left else "is empty, but the cleanup did not finish"
    message = (
        f"Forced exit during cleanup ({FORCE_PRESSES} Ctrl-C within {FORCE_WITHIN_S:g} s): "
        f"the fault ledger {holds}; run `make recover` to revert whatever is left."
    )
    logger.critical(message)
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass  # the terminal may be gone; the log has it
    os._exit(FORCED_EXIT_CODE)
