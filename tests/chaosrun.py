"""Helpers to build small experiments and run them with the real `chaos` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHAOS = str(Path(sys.executable).parent / "chaos")
SAFETY_CONTROL = {
    "name": "coffee-chaos-safety",
    "provider": {"type": "python", "module": "controls.safety"},
}


def py(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "python", "module": module, "func": func}
    if arguments:
        provider["arguments"] = arguments
    return provider


def act(name: str, module: str, func: str, pause_after: float = 0, **arguments: Any) -> dict:
    activity = {"type": "action", "name": name, "provider": py(module, func, **arguments)}
    if pause_after:
        activity["pauses"] = {"after": pause_after}
    return activity


def kill(service: str, pause_after: float = 0) -> dict:
    return act(f"kill-{service}", "actions.services", "kill_service", pause_after, service=service)


def start(service: str) -> dict:
    return act(f"start-{service}", "actions.services", "start_service", service=service)


KILL_SWITCH_GUARD = {
    "name": "kill-switch-is-off",
    "type": "probe",
    "frequency": 1,
    "tolerance": True,
    "provider": py("probes.safety", "kill_switch_is_off"),
}


def hold(seconds: float) -> dict:
    """A harmless probe that keeps the method (and the fault) going for ``seconds``."""
    activity = act("hold-the-fault", "probes.safety", "kill_switch_is_off", pause_after=seconds)
    activity["type"] = "probe"
    return activity


READY = {
    "type": "probe",
    "name": "readyz-200",
    "tolerance": 200,
    "provider": py("probes.http", "readyz_status"),
}


def experiment(
    method: list[dict],
    rollbacks: list[dict],
    probes: list[dict] | None = None,
    safeguards: list[dict] | None = None,
) -> dict[str, Any]:
    controls = [SAFETY_CONTROL]
    if safeguards:
        controls.append(
            {
                "name": "safeguards",
                "provider": {
                    "type": "python",
                    "module": "chaosaddons.controls.safeguards",
                    "arguments": {"probes": safeguards},
                },
            }
        )
    return {
        "version": "1.0.0",
        "title": "safety test",
        "description": "A small experiment built by the safety tests.",
        "controls": controls,
        "steady-state-hypothesis": {"title": "ready", "probes": probes or [READY]},
        "method": method,
        "rollbacks": rollbacks,
    }


def launch(body: dict[str, Any], workdir: Path, *args: str, **popen: Any) -> subprocess.Popen:
    """Start `chaos run` on ``body`` in the background (its own session); ``popen`` goes to
    subprocess.Popen (e.g. a ``preexec_fn``)."""
    path = workdir / "experiment.json"
    path.write_text(json.dumps(body))
    return launch_file(path, workdir, *args, **popen)


def _as_from_a_terminal() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def launch_file(path: Path, workdir: Path, *args: str, **popen: Any) -> subprocess.Popen:
    """Start `chaos run` on the experiment file ``path``, its journal and logs in
    ``workdir``, in the background (its own session). SIGHUP is its default, as from a
    terminal, even when the tests run under nohup (unless ``popen`` has a ``preexec_fn``)."""
    env = {**os.environ, "COFFEE_CHAOS_RUN_DIR": str(workdir / "run")}
    popen.setdefault("preexec_fn", _as_from_a_terminal)
    log = open(workdir / "chaos.out", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            CHAOS,
            "--log-file",
            str(workdir / "chaostoolkit.log"),
            "run",
            *args,
            "--journal-path",
            str(workdir / "journal.json"),
            str(path),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **popen,
    )


def run(body: dict[str, Any], workdir: Path, *args: str, timeout: float = 180) -> tuple[int, dict]:
    """Run ``body`` to the end; return the exit code and the journal."""
    return finish(launch(body, workdir, *args), workdir, timeout), journal(workdir)


def finish(process: subprocess.Popen, workdir: Path, timeout: float) -> int:
    """The run's exit code; a run over ``timeout`` is stopped as an operator would (SIGTERM:
    the safety control reverts its faults and stops its load) and the test fails."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        raise AssertionError(
            f"`chaos run` took more than {timeout:g} s and was stopped; "
            f"see {workdir}/chaostoolkit.log"
        ) from None


def journal(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / "journal.json").read_text())


def wait_for(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def signal_and_wait(process: subprocess.Popen, signum: int, timeout: float = 120) -> int:
    os.kill(process.pid, signum)
    return process.wait(timeout=timeout)


def logged(workdir: Path, text: str) -> bool:
    """Whether the run's chaostoolkit.log holds ``text`` yet."""
    log = workdir / "chaostoolkit.log"
    return log.exists() and text in log.read_text(errors="replace")


def activity_names(journal_body: dict, section: str = "run") -> list[str]:
    return [run["activity"]["name"] for run in journal_body.get(section) or []]
