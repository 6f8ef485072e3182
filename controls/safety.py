"""The safety control every Coffee Chaos experiment declares (module ``controls.safety``).

It makes the experiment's guarantees independent of how ``chaos run`` is
called:

- the machine's kill switch, another run holding the machine's run lock, or a
  fault left in any ledger of the machine refuses the run before anything is
  touched (``gameday.registry``);
- rollbacks run on every exit path (the runtime strategy is forced to
  ``always``, whatever ``--rollback-strategy`` says); SIGINT, SIGTERM, SIGHUP and
  SIGQUIT interrupt the method, and signals during cleanup are noted, not obeyed
  (``controls.signals``);
- when the run ends, however it ends, the Locust run is stopped and whatever
  the fault ledger still holds is reverted;
- no secret (a secrets scope's values, a credential-named key's, a URL's
  password) reaches the journal or the logs (``gameday.redact``);
- every expectation is judged: a method probe that fails is an unmet
  expectation (a deviation, with what was expected and observed), the method
  goes on through the revert and the recovery, and a probe that cannot judge
  on this target is listed as not judged, never as a deviation;
- an action that fails while the ledger still holds a fault (one that could
  not be injected cleanly or reverted) stops the method: the rollbacks play;
- Locust's files go to a run directory beside the journal.

The verdict's facts land in the journal under ``coffee_chaos``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.run import RunEventHandler
from chaoslib.types import Activity, Configuration, Experiment, Journal, Run, Secrets, Settings

from controls import evidence, progress, signals
from gameday import faultmetrics, ledger, locustrun, redact, registry
from gameday.background import LEDGER_ENV
from gameday.target import RUN_DIR_ENV, TargetError, load_secrets, load_target

__all__ = [
    "after_activity_control",
    "before_activity_control",
    "before_experiment_control",
    "cleanup_control",
    "configure_control",
]
logger = logging.getLogger("chaostoolkit")

_admission: dict[str, Any] = {"lock": None}


def configure_control(
    configuration: Configuration = None,
    secrets: Secrets = None,
    experiment: Experiment = None,
    event_registry: Any = None,
) -> None:
    """Mask secrets, admit or refuse the run, choose its directory, register the handler
    and take over the signals (chaostoolkit's SIGTERM handler raises an Exception, which
    the activity it lands in swallows as a failure: the method would go on)."""
    redactor = _redactor(configuration, secrets, experiment)
    redact.mask_logs(redactor, logging.getLogger(), logger)
    _journal_dir().mkdir(parents=True, exist_ok=True)  # `chaos run` does not create it
    if not os.environ.get(RUN_DIR_ENV):
        os.environ[RUN_DIR_ENV] = str(_run_dir(experiment or {}))
    _admission["refusal"] = _admit(configuration)
    _admission.update(stopped_by=None, phase=None, ledger=None)
    if _admission["refusal"] is None:
        _admission["ledger"] = ledger.ledger_for(load_target(configuration))
        title = str((experiment or {}).get("title", ""))
        faultmetrics.begin_run(_admission["ledger"], _experiment_name(title), title)
    if event_registry is not None:
        event_registry.register(SafetyHandler(configuration, secrets, redactor))
        event_registry.register(progress.ProgressHandler(experiment))
    signals.install(lambda: _stuck_faults(configuration, including_load=True))


def _redactor(configuration: Configuration, secrets: Secrets, experiment: Any) -> redact.Redactor:
    """What to mask: the run's secrets scopes, the lab's credentials, credential-named keys."""
    try:
        stored = load_secrets(load_target(configuration))
    except TargetError:
        stored = {}
    return redact.Redactor(redact.secret_values([secrets, stored], experiment, configuration))


def before_experiment_control(
    context: Experiment,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Stop a refused run before anything is touched."""
    refusal = _admission.get("refusal", "refusing to run: the safety control was not configured")
    if refusal:
        raise InterruptExecution(refusal)


def before_activity_control(
    context: Activity,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """The activity about to run names the faults it records (``coffee_chaos_fault_active``)."""
    faultmetrics.set_activity(context.get("name"))


def after_activity_control(
    context: Activity,
    state: Run,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Keep what a probe observed with its record; stop on a fault that is stuck."""
    failure = evidence.take()
    if state is None:
        return
    if failure and state.get("status") == "failed":
        state["expectation"] = failure
    in_method = _admission.get("phase") == "method"
    if in_method and context.get("type") == "action" and state.get("status") == "failed":
        stuck = _stuck_faults(configuration)
        if stuck:
            reason = (
                f"action {context.get('name')!r} failed while the ledger holds {stuck}: "
                "a fault that could not be injected cleanly or reverted; stopping the method "
                "and playing the rollbacks"
            )
            _admission["stopped_by"] = {"safeguard": "fault-not-reverted", "reason": reason}
            logger.critical(reason)
            raise InterruptExecution(reason)


def cleanup_control() -> None:
    """Nothing to release: the handler does its work when the run finishes."""


def _stuck_faults(configuration: Configuration, including_load: bool = False) -> str:
    try:
        entries = ledger.ledger_for(load_target(configuration)).entries()
    except TargetError as exc:
        return f"an unreadable ledger ({exc})"
    return ", ".join(
        f"{e['kind']} {e['subject']}"
        for e in entries
        if including_load or e.get("kind") != "locust"
    )


def _admit(configuration: Configuration) -> str | None:
    """Why the run must not start (kill switch, the machine busy, a fault left in any of
    its ledgers), or None once this run holds the machine's run lock."""
    try:
        target = load_target(configuration)
    except TargetError as exc:
        return f"refusing to run: {exc}"
    if target.kill_switch.exists():
        return (
            f"refusing to run: the kill switch {target.kill_switch} is set; "
            "remove it with `gameday kill-switch off` once the system is safe"
        )
    lock, holder = registry.take_lock("chaos run")
    if lock is None:
        return f"refusing to run: another experiment holds the lab ({holder}); wait for it"
    _admission["lock"] = lock  # held until this process exits
    books = [ledger.ledger_for(target), *(ledger.Ledger(d) for d, _ in registry.ledgers())]
    books = [b for b in books if not _session_load(b)]
    unreadable = sorted({str(p) for b in books for p in [*b.quarantined(), *dict(b.unreadable())]})
    if unreadable:
        return (
            f"refusing to run: the fault ledger holds unreadable file(s) {', '.join(unreadable)}: "
            "run `make recover` (it reverts the rest and puts them aside in corrupt/), "
            "revert their faults by hand, then delete them"
        )
    pending = sorted({f"{e['kind']} {e['subject']}" for b in books for e in b.entries()})
    if pending:
        return (
            f"refusing to run: the fault ledger still holds {', '.join(pending)} from an "
            "earlier run; revert them with `make recover` (or `gameday recover`)"
        )
    return None


def _session_load(book: ledger.Ledger) -> bool:
    """Whether ``book`` is the background load of the game day that started this run."""
    own = os.environ.get(LEDGER_ENV)
    return bool(own) and Path(own).resolve() == Path(book.directory).resolve()


class SafetyHandler(RunEventHandler):
    """Forces rollbacks, then cleans up and renders the verdict at the end of a run."""

    def __init__(
        self, configuration: Configuration, secrets: Secrets, redactor: redact.Redactor
    ) -> None:
        self.configuration = configuration
        self.secrets = secrets
        self.redactor = redactor

    def running(
        self,
        experiment: Experiment,
        journal: Journal,
        configuration: Configuration,
        secrets: Secrets,
        schedule: Any,
        settings: Settings,
    ) -> None:
        admitted = _admission.get("refusal") is None
        runtime = settings.setdefault("runtime", {})
        runtime.setdefault("rollbacks", {})["strategy"] = "always" if admitted else "never"
        self.configuration = configuration
        self.secrets = secrets

    def start_method(self, experiment: Experiment) -> None:
        _admission["phase"] = "method"

    def method_completed(self, experiment: Experiment, state: Any = None) -> None:
        _admission["phase"] = "after"
        _end_method_series()

    def start_rollbacks(self, experiment: Experiment) -> None:
        _admission["phase"] = "rollbacks"
        signals.begin_cleanup()
        _end_method_series()

    def finish(self, journal: Journal) -> None:
        signals.begin_cleanup()
        try:
            self._clean_up(journal)
        finally:
            journal["coffee_chaos"]["signals_during_cleanup"] = signals.noted()
            masked = self.redactor.data(dict(journal))
            journal.clear()
            journal.update(masked)

    def _clean_up(self, journal: Journal) -> None:
        facts: dict[str, Any] = {"run_dir": os.environ.get(RUN_DIR_ENV)}
        journal["coffee_chaos"] = facts
        refusal = _admission.get("refusal")
        if refusal:
            facts["refused"] = refusal
            return
        try:
            target = load_target(self.configuration)
        except TargetError as exc:
            facts["cleanup_error"] = str(exc)
            return
        facts["load"] = _stop_load(target)
        try:
            facts["recovered"] = ledger.recover(target)
        except ledger.LedgerError as exc:
            logger.error(f"Could not revert every fault: {exc}")
            facts["cleanup_error"] = str(exc)
            journal["status"] = "failed"
        faultmetrics.end_run(ledger.ledger_for(target))
        _judge_precheck(journal, facts)
        _judge_method(journal, facts)
        _name_the_stop(journal, facts)
        facts["measurement_problems"] = _measurement_problems(journal)


def _end_method_series() -> None:
    if _admission.get("ledger") is not None:
        faultmetrics.end_method(_admission["ledger"])


def _stop_load(target: Any) -> dict[str, Any] | None:
    try:
        return locustrun.stop(target)
    except locustrun.NotRunning:
        return None
    except Exception as exc:  # the ledger revert below is the backstop
        logger.error(f"Could not stop the load cleanly: {exc}")
        return {"error": str(exc)}


def _judge_precheck(journal: Journal, facts: dict[str, Any]) -> None:
    """A steady state not met before the method fails the run (chaostoolkit calls it completed)."""
    before = (journal.get("steady_states") or {}).get("before") or {}
    if before.get("steady_state_met") is False:
        facts["steady_state_before"] = [
            {"name": p["activity"]["name"], "output": p.get("output")}
            for p in before.get("probes", [])
            if not p.get("tolerance_met", True) or p.get("status") != "succeeded"
        ]
        journal["status"] = "failed"


def _judge_method(journal: Journal, facts: dict[str, Any]) -> None:
    """Every method probe is an expectation: met, unmet (with its evidence), or not judged
    (not available on this target, or never reached); failed actions fail the run."""
    ran = journal.get("run", [])
    unmet, broken, not_judged = [], [], []
    for run in ran:
        activity = run.get("activity", {})
        entry = {"name": activity.get("name"), "reason": _reason(run)}
        output = run.get("output")
        if activity.get("type") == "probe" and run.get("status") == "succeeded":
            if isinstance(output, dict) and evidence.NOT_AVAILABLE in output:
                not_judged.append({"name": entry["name"], "reason": output[evidence.NOT_AVAILABLE]})
        elif activity.get("type") == "probe":
            unmet.append({**entry, **run.get("expectation", {})})
        elif run.get("status") == "failed":
            broken.append(entry)
    reached = {run.get("activity", {}).get("name") for run in ran}
    for activity in (journal.get("experiment") or {}).get("method", []):
        if activity.get("type") == "probe" and activity.get("name") not in reached:
            not_judged.append({"name": activity.get("name"), "reason": "not reached"})
    facts["unmet_expectations"] = unmet
    facts["failed_actions"] = broken
    facts["not_judged"] = not_judged
    if unmet:
        journal["deviated"] = True
    if broken and journal.get("status") == "completed":
        journal["status"] = "failed"


def _measurement_problems(journal: Journal) -> list[dict[str, str]]:
    """Where the load generator's view and the API's own disagree (a note, not a verdict)."""
    states = journal.get("steady_states") or {}
    runs = [
        *journal.get("run", []),
        *((states.get("before") or {}).get("probes") or []),
        *((states.get("after") or {}).get("probes") or []),
    ]
    problems = []
    for run in runs:
        output = run.get("output")
        figures = (run.get("expectation") or {}).get("figures")
        for facts in (output, figures):
            view = facts.get("server_view") if isinstance(facts, dict) else None
            if isinstance(view, dict) and view.get("measurement_note"):
                name = run.get("activity", {}).get("name")
                problems.append({"name": name, "note": view["measurement_note"]})
    return problems


def _name_the_stop(journal: Journal, facts: dict[str, Any]) -> None:
    """An interrupted run says which safeguard stopped it (and the expectations it judged)."""
    if journal.get("status") != "interrupted":
        return
    stopped = _admission.get("stopped_by") or _tripped_safeguard()
    facts["interrupted_by"] = stopped or {"safeguard": None, "reason": "interrupted (a signal)"}


def _tripped_safeguard() -> dict[str, Any] | None:
    """The chaostoolkit-addons safeguard that ended the run, if one did."""
    guardian = getattr(sys.modules.get("chaosaddons.controls.safeguards"), "guardian", None)
    if guardian is None or not getattr(guardian, "was_triggered", False):
        return None
    run = getattr(guardian, "triggered_by_run", None) or {}
    return {"safeguard": guardian.triggered_by, "reason": f"returned {run.get('output')!r}"}


def _reason(run: dict[str, Any]) -> str:
    exception = run.get("exception") or []
    return exception[-1].strip() if exception else "failed"


def _run_dir(experiment: Experiment) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", str(experiment.get("title", "run")).lower()).strip("-")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return _journal_dir() / "runs" / f"{stamp}-{slug[:40]}"


def _experiment_name(title: str) -> str:
    """The experiment file's name (``kill-redis``) from `chaos run`'s arguments, else the
    slug of its title: the ``experiment`` label of the fault series."""
    takes_a_path = ("--var-file", "--journal-path", "--log-file", "--settings")
    argv = sys.argv
    for index in range(len(argv) - 1, 0, -1):
        path = Path(argv[index])
        if argv[index - 1] not in takes_a_path and path.suffix in (".json", ".yaml", ".yml"):
            return path.stem
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]


def _journal_dir() -> Path:
    argv = sys.argv
    for index, arg in enumerate(argv):
        if arg == "--journal-path" and index + 1 < len(argv):
            return Path(argv[index + 1]).resolve().parent
        if arg.startswith("--journal-path="):
            return Path(arg.split("=", 1)[1]).resolve().parent
    return Path.cwd()
