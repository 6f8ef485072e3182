"""What an expectation saw, handed from the probe that judged it to the verdict.

A probe whose expectation is not met raises ``ActivityFailed(unmet(...))``;
one that cannot judge on this target returns ``not_available(...)``. The
safety control (``controls.safety``) runs in the probe's thread after it and
attaches the evidence to the journal's record of the activity, so the journal
and the report list every failed expectation with what was expected and what
was observed, and every expectation the target could not be judged on.
"""

from __future__ import annotations

import threading
from typing import Any

NOT_AVAILABLE = "not_available"
_last = threading.local()


def unmet(expected: str, observed: Any, **evidence: Any) -> str:
    """Remember a failed expectation; return the message to raise with it."""
    _last.failure = {"expected": expected, "observed": observed, **evidence}
    return f"expected {expected}; observed {observed}"


def not_available(what: str, why: str) -> dict[str, str]:
    """The output of a probe that cannot judge ``what`` on this target, and why."""
    return {NOT_AVAILABLE: f"{what}: {why}"}


def take() -> dict[str, Any] | None:
    """The failure the last probe of this thread remembered, once."""
    failure = getattr(_last, "failure", None)
    _last.failure = None
    return failure
