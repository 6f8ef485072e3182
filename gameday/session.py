"""A game day: a series of experiments run with `chaos run`, reported as one session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday.target import RUN_DIR_ENV
from gameday.verdict import Verdict, read_verdict

PROFILES_DIR = Path("experiments/vars")


class SessionError(Exception):
    """A game day cannot start: bad experiment path, unknown profile, bad --var."""


@dataclass
class Session:
    """The experiments of one game day and where their evidence goes."""

    experiments: list[Path]
    directory: Path
    profile: str | None = None
    variables: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    interrupted: bool = False


def plan(experiments: list[str], profile: str | None, variables: list[str], root: Path) -> Session:
    """Check every input before anything runs; name the session's directory."""
    paths = [Path(e) for e in experiments]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SessionError(
            f"no such experiment: {', '.join(missing)}; list them with `ls experiments/*.json`"
        )
    for path in paths:
        try:
            json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SessionError(f"{path} is not valid JSON: {exc}") from None
    if profile and not profile_file(profile).is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))) or "none"
        raise SessionError(f"unknown profile {profile!r}: known profiles are {known}")
    for var in variables:
        if "=" not in var:
            raise SessionError(f"--var {var!r} must look like key=value or key:int=value")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Session(paths, root / f"gameday-{stamp}", profile, list(variables))


def profile_file(profile: str) -> Path:
    return PROFILES_DIR / f"{profile}.yaml"


def run(session: Session, out: Any = sys.stdout) -> Session:
    """Run each experiment in turn; stop the series on Ctrl-C or SIGTERM."""
    session.directory.mkdir(parents=True, exist_ok=True)
    for index, experiment in enumerate(session.experiments, start=1):
        run_dir = session.directory / f"{index:02d}-{experiment.stem}"
        run_dir.mkdir(parents=True, exist_ok=True)
        print(
            f"[{index}/{len(session.experiments)}] {experiment} -> {run_dir}", file=out, flush=True
        )
        code = _chaos_run(experiment, run_dir, session)
        verdict = read_verdict(run_dir, experiment, code)
        session.verdicts.append(verdict)
        print(f"    {verdict.summary()}", file=out, flush=True)
        if session.interrupted:
            print("Interrupted: the remaining experiments were not run.", file=out)
            break
    return session


def _chaos_run(experiment: Path, run_dir: Path, session: Session) -> int:
    chaos = Path(sys.executable).parent / "chaos"
    command = [str(chaos), "--log-file", str(run_dir / "chaostoolkit.log"), "run"]
    command += ["--journal-path", str(run_dir / "journal.json")]
    if session.profile:
        command += ["--var-file", str(profile_file(session.profile))]
    for var in session.variables:
        command += ["--var", var]
    command.append(str(experiment))
    env = {**os.environ, RUN_DIR_ENV: str(run_dir.resolve())}
    with open(run_dir / "chaos.out", "w") as output:
        child = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        previous = _forward_signals(child, session)
        try:
            return child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _forward_signals(child: subprocess.Popen, session: Session) -> dict[int, Any]:
    """Ctrl-C and SIGTERM reach the experiment once, so its rollbacks are not
    interrupted by a second signal; the series stops after it."""

    def forward(signum: int, frame: Any) -> None:
        if session.interrupted:
            return
        session.interrupted = True
        if child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    return {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
