"""Windows no signal may cut in half (standard library only).

Between sending SIGSTOP to a service and SIGKILL, or between starting Locust
and recording its pid, an interruption would leave a fault nothing knows how to
revert. Inside ``deferred()`` the termination signals are noted, not acted on;
they are delivered again, in order, as soon as the window closes. SIGKILL cannot
be deferred: recovery finds what such a crash leaves (``gameday.recover``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["TERMINATING", "deferred"]

TERMINATING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM, SIGHUP and SIGQUIT until the block ends, then deliver them.

    Python runs signal handlers in the main thread only, so a block in another thread
    cannot be interrupted by one and needs no deferral.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for signum in TERMINATING:
        handler = signal.getsignal(signum)
        if handler not in (signal.SIG_IGN, None):
            previous[signum] = signal.signal(signum, lambda number, _: pending.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in pending:
            signal.raise_signal(signum)
