"""The `gameday` command: run and steer a game day, report a run, recover, check the lab,
kill switch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import requests

from gameday import (
    kubetarget,
    ledger,
    panels,
    publish,
    recover,
    sessionctl,
    targetcheck,
)
from gameday.errors import GamedayError
from gameday.plan import check_platform, from_experiments, load_plan
from gameday.session import SessionError, new_session, resume_session, run
from gameday.target import TARGET_ENV, load_target

PLAN_SUFFIXES = (".yaml", ".yml")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.target:
        os.environ[TARGET_ENV] = args.target
    try:
        return args.func(args)
    except GamedayError as exc:
        print(f"gameday: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir)
    if args.resume:
        if args.experiments:
            raise SessionError("--resume continues a session as planned: give no experiments")
        session = resume_session(Path(args.resume), load_target())
    else:
        planned, target = _plan(args), load_target()
        check_platform(planned, target.platform)
        session = new_session(planned, runs_dir, target)
    print(f"Session: {session.directory}")
    print(f"Watch it live: {panels.live_page_url(load_target().prometheus_url)}")
    print(f"Grafana:       {panels.grafana_url()} (roles/grafana; {panels.dashboard_files()[0]})")
    run(session)
    page = publish.session_report(session, runs_dir, Path(args.junit) if args.junit else None)
    print()
    for verdict in session.verdicts:
        print(f"{verdict.outcome.upper():9} {verdict.title}")
        if verdict.outcome != "not run":
            print(f"          journal: {verdict.journal}")
        if verdict.locust_report.exists():
            print(f"          Locust report: {verdict.locust_report}")
    if session.stopped:
        print(f"Stopped: {session.stopped}")
    print(f"Report: {page}")
    if args.junit:
        print(f"JUnit: {args.junit}")
    if session.interrupted:
        return 130
    return 0 if all(v.outcome == "passed" for v in session.verdicts) else 1


def _plan(args: argparse.Namespace):
    if not args.experiments:
        raise SessionError("name a plan (plans/quick.yaml) or experiment files, or --resume DIR")
    plans = [e for e in args.experiments if e.endswith(PLAN_SUFFIXES)]
    if plans:
        if len(args.experiments) > 1 or args.profile:
            raise SessionError(
                f"{plans[0]} is a plan: give it alone, with its profiles in it (not --profile)"
            )
        return load_plan(Path(plans[0]), args.var or [])
    return from_experiments(args.experiments, args.profile, args.var or [])


def _report(args: argparse.Namespace) -> int:
    page = publish.run_report(Path(args.path), load_target())
    print(f"Report: {page}")
    return 0


def _steer(args: argparse.Namespace) -> int:
    target = load_target()
    session = getattr(sessionctl, args.verb)(target)
    said = {
        "pause": "will pause before its next experiment (the current one finishes and reverts)",
        "resume": "resumes",
        "abort": "is stopping: the current experiment rolls back, then the report is written",
    }
    print(f"The game day in {session['dir']} {said[args.verb]}.")
    return 0


def _recover(args: argparse.Namespace) -> int:
    """The machine's recovery (``gameday.recover``, the same as `make recover` without a venv)."""
    return recover.main(["--force"] if args.force else [])


def _status(args: argparse.Namespace) -> int:
    target = load_target()
    checks = {
        "API /readyz": f"{target.api_url}/readyz",
        "API /metrics": f"{target.api_url}/metrics",
        "Prometheus": f"{target.prometheus_url}/-/ready",
        "Live page": panels.live_page_url(target.prometheus_url),
        "Fault proxy": f"{target.faultproxy_url}/version",
    }
    healthy = True
    for name, url in checks.items():
        try:
            code = requests.get(url, timeout=3).status_code
        except requests.RequestException as exc:
            code, healthy = f"unreachable ({type(exc).__name__})", False
        healthy = healthy and code == 200
        print(f"{name:14} {url:50} {code}")
    for path in panels.dashboard_files():
        print(f"{'Dashboard':14} {path}{'' if path.is_file() else ' (missing)'}")
    pending = ledger.ledger_for(target).entries()
    print(f"Fault ledger   {target.ledger_dir}: {len(pending)} pending")
    for entry in pending:
        print(
            f"               {entry['kind']} {entry['subject']} (pid {entry.get('pid')}): {entry.get('note', '')}"
        )
    print(f"Kill switch    {target.kill_switch}: {'SET' if target.kill_switch.exists() else 'off'}")
    return 0 if healthy and not pending else 1


def _check_target(args: argparse.Namespace) -> int:
    target = load_target()
    signals = targetcheck.check(target)
    experiments = [Path(p) for p in args.experiments] or sorted(Path("experiments").glob("*.json"))
    verdicts = [targetcheck.applicability(path, signals) for path in experiments]
    if args.json:
        print(json.dumps(targetcheck.as_dict(signals, verdicts), indent=2))
    else:
        print(f"Target {target.api_url} ({target.platform})")
        print(targetcheck.describe(signals, verdicts))
    return 0 if signals["api"].offered else 1


def _kubernetes_target(args: argparse.Namespace) -> int:
    if args.manifests:
        text = sys.stdin.read() if args.manifests == "-" else Path(args.manifests).read_text()
        objects = kubetarget.read_manifests(text)
    else:
        objects = kubetarget.kustomize(args.kustomize)
    written = kubetarget.from_manifests(
        objects,
        api_url=args.api_url,
        prometheus_url=args.prometheus_url,
        aggregator_metrics_url=args.aggregator_metrics_url,
        state_dir=args.state_dir,
        secrets_file=args.secrets_file,
    )
    text = json.dumps(written, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: point {TARGET_ENV} at it (or pass --target)")
    else:
        print(text, end="")
    return 0


def _kill_switch(args: argparse.Namespace) -> int:
    target = load_target()
    if args.state == "on":
        target.kill_switch.parent.mkdir(parents=True, exist_ok=True)
        target.kill_switch.write_text("set by gameday kill-switch on\n")
        print(
            f"Kill switch set ({target.kill_switch}): running experiments stop, new runs are refused."
        )
    else:
        target.kill_switch.unlink(missing_ok=True)
        print("Kill switch off: experiments may run.")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gameday", description=__doc__)
    parser.add_argument("--target", help="target file (default: $COFFEE_CHAOS_TARGET or the lab's)")
    commands = parser.add_subparsers(required=True, metavar="command")

    run_cmd = commands.add_parser(
        "run", help="run experiments in turn and report them as one session"
    )
    run_cmd.add_argument(
        "experiments",
        nargs="*",
        help="a plan (plans/quick.yaml), or experiment files run in this order",
    )
    run_cmd.add_argument("--profile", help="a profile in experiments/vars/ (e.g. quick)")
    run_cmd.add_argument("--resume", metavar="DIR", help="continue the session in DIR")
    run_cmd.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    run_cmd.add_argument("--var", action="append", help="configuration override key=value")
    run_cmd.add_argument("--runs-dir", default="runs", help="where sessions go (default: runs/)")
    run_cmd.set_defaults(func=_run)

    for verb, said in (
        ("pause", "hold the running game day before its next experiment"),
        ("resume", "let a paused game day go on"),
        ("abort", "stop the running game day (its current experiment rolls back)"),
    ):
        steer = commands.add_parser(verb, help=said)
        steer.set_defaults(func=_steer, verb=verb)

    report = commands.add_parser(
        "report", help="render report.html for a `chaos run` (its directory or journal.json)"
    )
    report.add_argument("path", help="a run directory or its journal.json")
    report.set_defaults(func=_report)

    recovery = commands.add_parser(
        "recover", help="bring the lab up and revert every fault of every ledger of this machine"
    )
    recovery.add_argument(
        "--force", action="store_true", help="even while an experiment holds the lab"
    )
    recovery.set_defaults(func=_recover)

    status = commands.add_parser("status", help="check the lab and print where everything is")
    status.set_defaults(func=_status)

    check = commands.add_parser(
        "check-target",
        help="which signals the target offers, and which experiments apply fully, partly or not",
    )
    check.add_argument("experiments", nargs="*", help="experiment files (default: all)")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.set_defaults(func=_check_target)

    k8s = commands.add_parser(
        "kubernetes-target",
        help="write a target file for Kubernetes from the manifests' names",
    )
    source = k8s.add_mutually_exclusive_group()
    source.add_argument(
        "--kustomize",
        default="deploy/kubernetes/overlays/test-cluster",
        help="render this kustomization (default: the test-cluster overlay)",
    )
    source.add_argument("--manifests", help="rendered manifests (a YAML file, or - for stdin)")
    for key, default in kubetarget.DEFAULTS.items():
        k8s.add_argument(f"--{key.replace('_', '-')}", help=f"default: {default}")
    k8s.add_argument("-o", "--output", help="write the target file here (default: print it)")
    k8s.set_defaults(func=_kubernetes_target)

    switch = commands.add_parser("kill-switch", help="stop running experiments and refuse new ones")
    switch.add_argument("state", choices=["on", "off"])
    switch.set_defaults(func=_kill_switch)
    return parser


if __name__ == "__main__":
    sys.exit(main())
