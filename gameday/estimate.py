"""How long an experiment of a plan should take: its method's pauses, resolved.

The configuration is the experiment's defaults, then its profile, then the plan's
vars; each pause (``"${fault_s}"`` or a number) of the method is added up, plus a
margin for the hypothesis and the rollbacks. Good enough for "remaining" on the live
line, which corrects itself as the run goes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from gameday.plan import Planned, profile_file

__all__ = ["configuration", "duration_s"]

MARGIN_S = 20.0
_REF = re.compile(r"^\$\{(\w+)\}$")


def configuration(planned: Planned) -> dict[str, Any]:
    """The experiment's configuration values as this plan runs it."""
    body = json.loads(planned.path.read_text())
    values = {
        key: value.get("default") if isinstance(value, dict) and "type" in value else value
        for key, value in (body.get("configuration") or {}).items()
    }
    if planned.profile:
        profile = yaml.safe_load(profile_file(planned.profile).read_text()) or {}
        values.update(
            {k: v for k, v in (profile.get("configuration") or {}).items() if k in values}
        )
    values.update(planned.variables)
    return values


def duration_s(planned: Planned) -> float:
    """The method's pauses added up, plus a margin."""
    values = configuration(planned)
    body = json.loads(planned.path.read_text())
    total = MARGIN_S
    for activity in body.get("method") or []:
        for pause in (activity.get("pauses") or {}).values():
            total += _number(pause, values)
    return total


def _number(value: Any, values: dict[str, Any]) -> float:
    match = _REF.match(value) if isinstance(value, str) else None
    if match:
        value = values.get(match.group(1), 0)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
