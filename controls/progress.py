"""Where a run stands, for the live line of a game day (``gameday.live``).

The safety control registers ``ProgressHandler`` for every run; the file ``<run_dir>/progress.json`` then says the activity running, the phase (baseline,
fault, revert, recovery, after, rollbacks) and the last probe's verdict. The phase
follows the run's own marks: a result with a ``fault`` opens the fault, an action the
rollbacks replay is the revert, one with ``reverts`` starts the recovery, and the
recovery ends with the probe that measured it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from chaoslib.run import RunEventHandler

from gameday.target import RUN_DIR_ENV

__all__ = ["ProgressHandler"]

FILE = "progress.json"
RECOVERY_PROBE = "time_to_recover"
METHOD_PHASES = ("baseline", "fault", "revert", "recovery", "after")


class ProgressHandler(RunEventHandler):
    """Keeps ``<run_dir>/progress.json`` up to date as the run goes (see the module)."""

    def __init__(self, experiment: dict[str, Any] | None) -> None:
        refs = [r.get("ref") for r in (experiment or {}).get("rollbacks") or []]
        self.reverts = {r for r in refs if isinstance(r, str)}
        self.state: dict[str, Any] = {"phase": "starting", "activity": None, "last_probe": None}

    def start_hypothesis_before(self, experiment: Any) -> None:
        self._phase("hypothesis before")

    def start_method(self, experiment: Any) -> None:
        self._phase("baseline")

    def start_hypothesis_after(self, experiment: Any) -> None:
        self._phase("hypothesis after")

    def start_rollbacks(self, experiment: Any) -> None:
        self._phase("rollbacks")

    def start_activity(self, activity: dict[str, Any]) -> None:
        self.state["activity"] = activity.get("name")
        is_revert = activity.get("type") == "action" and activity.get("name") in self.reverts
        if is_revert and self.state["phase"] == "fault":
            self.state["phase"] = "revert"
        self._write()

    def activity_completed(self, activity: dict[str, Any], run: dict[str, Any]) -> None:
        output = (run or {}).get("output")
        marks = output if isinstance(output, dict) else {}
        if self.state["phase"] in METHOD_PHASES:
            if marks.get("fault"):
                self.state["phase"] = "fault"
            elif marks.get("reverts"):
                self.state["phase"] = "recovery"
        if activity.get("type") == "probe":
            func = (activity.get("provider") or {}).get("func")
            if self.state["phase"] == "recovery" and func == RECOVERY_PROBE:
                self.state["phase"] = "after"
            self.state["last_probe"] = {
                "name": activity.get("name"),
                "ok": (run or {}).get("status") == "succeeded",
                "at": time.time(),
            }
        self._write()

    def _phase(self, name: str) -> None:
        self.state["phase"] = name
        self._write()

    def _write(self) -> None:
        directory = os.environ.get(RUN_DIR_ENV)
        if not directory:
            return
        path = Path(directory) / FILE
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**self.state, "updated": time.time()}))
            os.replace(tmp, path)
        except OSError:
            pass  # the live line is a convenience: never fail a run for it
