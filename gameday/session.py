"""A game day: a plan's experiments run with `chaos run` in turn, as one session.

Before each experiment the session honours ``gameday pause`` and the health gate
(``gameday.gate``), and after it the cool-down and ``on_deviation``. Ctrl-C, SIGTERM,
``gameday abort`` and the kill switch stop it: the current experiment through its
rollbacks, the rest not run. ``session.json`` in the session's directory holds the plan
and every experiment's outcome, so ``gameday run --resume <dir>`` continues a session
that a crash cut short, skipping what completed. Optional background load runs beside
the experiments' own for the whole session (``gameday.background``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from gameday import background, estimate, gate, sessionctl
from gameday.live import LiveLine
from gameday.plan import Plan, PlanError, Planned, profile_file
from gameday.target import RUN_DIR_ENV, Target
from gameday.verdict import Verdict, not_run, read_verdict

__all__ = ["Session", "SessionError", "new_session", "resume_session", "run"]

COMPLETED = ("passed", "deviated", "failed")
STATE_FILE = "session.json"


class SessionError(PlanError):
    """A session cannot start or continue."""


@dataclass
class Session:
    """A plan, its directory, and what has happened so far."""

    plan: Plan
    directory: Path
    target: Target
    outcomes: dict[int, dict[str, Any]] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    stopped: str = ""
    interrupted: bool = False
    started: float = field(default_factory=time.time)
    ended: float | None = None
    current: dict[str, Any] | None = None
    child: subprocess.Popen | None = None

    def run_dir(self, index: int) -> Path:
        return self.directory / f"{index:02d}-{self.plan.experiments[index - 1].name}"

    def save(self) -> None:
        body = {
            "plan": self.plan.as_dict(),
            "target": self.target.api_url,
            "started": self.started,
            "ended": self.ended,
            "stopped": self.stopped,
            "outcomes": {str(k): v for k, v in self.outcomes.items()},
        }
        tmp = self.directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(body, indent=2))
        os.replace(tmp, self.directory / STATE_FILE)

    def status(self) -> dict[str, Any] | None:
        return dict(self.current) if self.current else None


def new_session(plan: Plan, runs_dir: Path, target: Target) -> Session:
    """A new session directory for ``plan``; refuses `ask` without a terminal."""
    if plan.on_deviation == "ask" and not sys.stdin.isatty():
        raise SessionError("on_deviation: ask needs an interactive terminal; use continue or stop")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Session(plan, runs_dir / f"gameday-{stamp}", target)


def resume_session(directory: Path, target: Target) -> Session:
    """The session in ``directory``, to run what it has not completed."""
    try:
        body = json.loads((directory / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise SessionError(
            f"{directory} is not a game-day session ({STATE_FILE}: {exc}); give the directory "
            "`gameday run` printed"
        ) from None
    if body.get("target") != target.api_url:
        raise SessionError(
            f"{directory} ran against {body.get('target')}, not {target.api_url}: resume it "
            "with the same target (--target)"
        )
    outcomes = {int(k): v for k, v in body.get("outcomes", {}).items()}
    session = Session(Plan.from_dict(body["plan"]), directory, target, outcomes)
    session.started = body.get("started") or session.started
    return session


def run(session: Session, out: TextIO = sys.stdout) -> Session:
    """Run what the session has not completed; stop on a signal, abort, kill switch,
    a closed gate or a deviation with ``on_deviation: stop``."""
    session.directory.mkdir(parents=True, exist_ok=True)
    sessionctl.register(session.target, session.directory)
    previous = _catch_signals(session)
    load = None
    try:
        load = background.start(session)
        with LiveLine(session.status, out):
            _experiments(session, out)
    finally:
        background.stop(session, load)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        session.ended = time.time()
        session.current = None
        session.verdicts = _verdicts(session)
        session.save()
        sessionctl.clear(session.target)
    return session


def _experiments(session: Session, out: TextIO) -> None:
    total = len(session.plan.experiments)
    for index, planned in enumerate(session.plan.experiments, start=1):
        if session.outcomes.get(index, {}).get("outcome") in COMPLETED:
            print(f"[{index}/{total}] {planned.name}: completed earlier, skipped", file=out)
            continue
        if not _before(session, index, planned, out):
            return
        verdict = _run_one(session, index, planned)
        session.outcomes[index] = {
            "outcome": verdict.outcome,
            "run_dir": verdict.run_dir.name,
            "exit_code": verdict.exit_code,
        }
        session.save()
        print(f"[{index}/{total}] {verdict.summary()}", file=out, flush=True)
        if session.interrupted:
            session.stopped = session.stopped or "interrupted (Ctrl-C, SIGTERM or gameday abort)"
            return
        if verdict.outcome == "deviated" and not _go_on_after_deviation(session, out):
            session.stopped = (
                f"{planned.name} deviated and on_deviation is {session.plan.on_deviation}"
            )
            return
        if index < total and not _wait(
            session, index, planned, "cool-down", session.plan.cooldown_s
        ):
            return


def _before(session: Session, index: int, planned: Planned, out: TextIO) -> bool:
    """Pause, then the gate; False (with session.stopped) when the session must stop."""
    while sessionctl.flags(session.target)["pause"] and not _stop_reason(session):
        _show(session, index, planned, "paused", "`gameday resume` continues")
        time.sleep(0.5)
    _show(session, index, planned, "gate", "waiting for the lab to be ready and quiet")
    result = gate.wait(
        session.target,
        session.plan.settle_s,
        session.plan.gate_timeout_s,
        lambda: _stop_reason(session),
    )
    if not result.passed:
        session.stopped = result.reason
        print(f"[{index}/{len(session.plan.experiments)}] not started: {result.reason}", file=out)
        return False
    return True


def _run_one(session: Session, index: int, planned: Planned) -> Verdict:
    run_dir = session.run_dir(index)
    if run_dir.exists():  # an attempt a crash cut short: keep its evidence beside
        attempt = 1
        while run_dir.with_name(f"{run_dir.name}.attempt{attempt}").exists():
            attempt += 1
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.attempt{attempt}"))
    run_dir.mkdir(parents=True)
    later = session.plan.experiments[index:]
    after_s = sum(estimate.duration_s(e) + session.plan.cooldown_s for e in later)
    session.current = {
        **_head(session, index, planned), "state": "running", "since": time.time(),
        "run_dir": str(run_dir), "estimate_s": estimate.duration_s(planned), "after_s": after_s,
    }  # fmt: skip
    code = _chaos_run(session, planned, run_dir)
    session.current = None
    return read_verdict(run_dir, planned.path, code)


def _chaos_run(session: Session, planned: Planned, run_dir: Path) -> int:
    chaos = Path(sys.executable).parent / "chaos"
    command = [str(chaos), "--log-file", str(run_dir / "chaostoolkit.log"), "run"]
    command += ["--journal-path", str(run_dir / "journal.json")]
    if planned.profile:
        command += ["--var-file", str(profile_file(planned.profile))]
    if planned.variables:
        var_file = run_dir / "vars.yaml"
        var_file.write_text(yaml.safe_dump({"configuration": planned.variables}))
        command += ["--var-file", str(var_file)]
    for var in session.plan.cli_vars:
        command += ["--var", var]
    command.append(str(planned.path))
    env = {**os.environ, RUN_DIR_ENV: str(run_dir.resolve())}
    env[background.LEDGER_ENV] = str(background.target_of(session.target).ledger_dir)
    with open(run_dir / "chaos.out", "w") as output:
        session.child = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return session.child.wait()
        finally:
            session.child = None


def _wait(session: Session, index: int, planned: Planned, state: str, seconds: float) -> bool:
    """Wait ``seconds`` (the cool-down), unless the session must stop."""
    until = time.monotonic() + seconds
    _show(session, index, planned, state, f"{seconds:g} s before the next experiment")
    while time.monotonic() < until:
        reason = _stop_reason(session)
        if reason:
            session.stopped = reason
            return False
        time.sleep(0.5)
    return True


def _stop_reason(session: Session) -> str:
    if session.interrupted or sessionctl.flags(session.target)["abort"]:
        session.interrupted = True
        return "aborted (Ctrl-C, SIGTERM or gameday abort)"
    if session.target.kill_switch.exists():
        return f"the kill switch {session.target.kill_switch} is set"
    return ""


def _go_on_after_deviation(session: Session, out: TextIO) -> bool:
    if session.plan.on_deviation == "continue":
        return True
    if session.plan.on_deviation == "stop":
        return False
    print("The experiment deviated. Go on with the next? [y/N] ", end="", file=out, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _show(session: Session, index: int, planned: Planned, state: str, detail: str) -> None:
    session.current = {
        **_head(session, index, planned),
        "state": state,
        "since": time.time(),
        "detail": detail,
    }


def _head(session: Session, index: int, planned: Planned) -> dict[str, Any]:
    return {"k": index, "n": len(session.plan.experiments), "name": planned.name}


def _verdicts(session: Session) -> list[Verdict]:
    """A verdict per experiment of the plan, those not run included."""
    verdicts = []
    for index, planned in enumerate(session.plan.experiments, start=1):
        outcome = session.outcomes.get(index)
        if outcome is None:
            verdicts.append(not_run(planned.path, session.run_dir(index), session.stopped))
        else:
            run_dir = session.directory / outcome["run_dir"]
            verdicts.append(read_verdict(run_dir, planned.path, outcome.get("exit_code", 0)))
    return verdicts


def _catch_signals(session: Session) -> dict[int, Any]:
    """Ctrl-C and SIGTERM reach the running experiment once, so that its rollbacks are not
    interrupted by a second signal; the session stops after it."""

    def forward(signum: int, frame: Any) -> None:
        if session.interrupted:
            return
        session.interrupted = True
        child = session.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    return {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
