"""The `gameday` command: run a game day, recover, check the lab, kill switch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import requests

from gameday import kubetarget, ledger, targetcheck
from gameday.report import write_report
from gameday.session import SessionError, plan, run
from gameday.target import TARGET_ENV, TargetError, load_target


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.target:
        os.environ[TARGET_ENV] = args.target
    try:
        return args.func(args)
    except (SessionError, TargetError, ledger.LedgerError) as exc:
        print(f"gameday: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    session = plan(args.experiments, args.profile, args.var or [], Path(args.runs_dir))
    run(session)
    page = write_report(session.directory, session.verdicts)
    failed = [v for v in session.verdicts if v.outcome != "passed"]
    print()
    for verdict in session.verdicts:
        print(f"{verdict.outcome.upper():9} {verdict.title}")
        print(f"          journal: {verdict.journal}")
        if verdict.locust_report.exists():
            print(f"          Locust report: {verdict.locust_report}")
    print(f"Report: {page}")
    if session.interrupted:
        return 130
    return 1 if failed else 0


def _recover(args: argparse.Namespace) -> int:
    target = load_target()
    reverted = ledger.recover(target)
    if not reverted:
        print("Nothing to recover: the fault ledger is empty.")
    for entry in reverted:
        print(f"reverted {entry.get('kind')} {entry.get('subject')}: {entry.get('result', 'ok')}")
    return 0


def _status(args: argparse.Namespace) -> int:
    target = load_target()
    checks = {
        "API /readyz": f"{target.api_url}/readyz",
        "API /metrics": f"{target.api_url}/metrics",
        "Prometheus": f"{target.prometheus_url}/-/ready",
        "Fault proxy": f"{target.faultproxy_url}/version",
    }
    healthy = True
    for name, url in checks.items():
        try:
            code = requests.get(url, timeout=3).status_code
        except requests.RequestException as exc:
            code, healthy = f"unreachable ({type(exc).__name__})", False
        healthy = healthy and code == 200
        print(f"{name:14} {url:45} {code}")
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
    run_cmd.add_argument("experiments", nargs="+", help="experiment files, run in this order")
    run_cmd.add_argument("--profile", help="a profile in experiments/vars/ (e.g. quick)")
    run_cmd.add_argument("--var", action="append", help="configuration override key=value")
    run_cmd.add_argument("--runs-dir", default="runs", help="where sessions go (default: runs/)")
    run_cmd.set_defaults(func=_run)

    recover = commands.add_parser("recover", help="revert every fault the ledger holds")
    recover.set_defaults(func=_recover)

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
