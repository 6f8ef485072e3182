"""The load generator's efficiency, distribution and WebSocket capacity (prints figures).

1. GET /livez, no wait, the same users, one process, ``--seconds`` each: plain
   Locust FastHttpUser vs our instrumented user (live file, load metrics), in
   ``--rounds`` alternating rounds (plain, ours, plain, ours...), medians.
   The efficiency figure is requests per CPU-second of the Locust process,
   ours over plain, the median of the rounds' ratios (a round whose machine
   was busier than its neighbour's counts once): it must be at least 0.9.
   Requests per second are printed
   beside it, with wrk on the same endpoint as the ceiling; the café shares
   the cores, so req/s is bounded by the target as much as by the generator.
2. The instrumented user with 1 and 2 local workers (``--processes``).
3. ``--sockets`` DashboardWatchers held by one Locust process: connected,
   failed connects, pushes received, RSS of the process.

Run it alone, under the lab lock:

    flock /tmp/coffee-lab.lock .venv/bin/python benchmarks/load_generator.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import psutil

REPO = Path(__file__).resolve().parent.parent
LIVEZ_FILE = REPO / "benchmarks" / "livez_locustfile.py"
LOCUSTFILE = REPO / "workloads" / "locustfile.py"
sys.path.insert(0, str(REPO))

from gameday import livestats  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def locust_run(host: str, users: int, seconds: int, instrumented: bool, workers: int = 0) -> dict:
    """One Locust run on /livez: req/s and CPU seconds per request over its measured window."""
    with tempfile.TemporaryDirectory() as tmp:
        window_file = Path(tmp) / "window.json"
        env = {
            **os.environ,
            "BENCH_INSTRUMENTED": "1" if instrumented else "0",
            "BENCH_WINDOW_FILE": str(window_file),
        }
        if instrumented:
            env.update(COFFEE_LIVE_FILE=f"{tmp}/live.jsonl", COFFEE_METRICS_PORT=str(_free_port()))
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LIVEZ_FILE),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--only-summary",
            "--stop-timeout",
            "2",
        ]
        if workers:
            port = _free_port()
            command += [
                "--processes",
                str(workers),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--master-port",
                str(port),
            ]
        subprocess.run(command, env=env, capture_output=True, check=True, timeout=seconds + 60)
        window = json.loads(window_file.read_text())
        if window["failures"]:
            sys.exit(
                f"{window['failures']} of {window['requests']} requests failed: is the café ready?"
            )
        return {
            "rps": window["requests"] / window["seconds"],
            "cpu_us_per_request": window["cpu_s"] / window["requests"] * 1e6,
        }


def wrk_rps(host: str, connections: int, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"{host}/livez"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def websockets(host: str, sockets: int, hold_s: int) -> dict:
    """Hold ``sockets`` DashboardWatchers in one process; connects, pushes and its RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "live.jsonl"
        env = {
            **os.environ,
            "COFFEE_USER_CLASSES": "DashboardWatcher=1",
            "COFFEE_LIVE_FILE": str(live),
            "COFFEE_METRICS_PORT": str(_free_port()),
        }
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
        command += ["-u", str(sockets), "-r", "100", "-t", "600s", "--host", host]
        command += ["--only-summary", "--stop-timeout", "2"]
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            connected = 0
            while connected < sockets and time.monotonic() < deadline:
                time.sleep(1)
                if live.exists():
                    connected = _ok(livestats.read_seconds(live), "WS connect")
            held_at = time.time()
            time.sleep(hold_s)
            seconds = livestats.read_seconds(live)
            held = [s for s in seconds if s["t"] >= held_at]
            pushes = livestats.merge(held, "/ws/dashboard push")
            return {
                "sockets": sockets,
                "connected": _ok(seconds, "WS connect"),
                "failed_connects": livestats.merge(seconds, "WS connect")["failures"],
                "pushes_per_s_held": round(pushes["count"] / hold_s, 1),
                "push_lag_p99_ms": livestats.percentile(pushes["hist"], 0.99),
                "rss_mib": round(psutil.Process(process.pid).memory_info().rss / 2**20, 1),
            }
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _ok(seconds: list[dict], name: str) -> int:
    merged = livestats.merge(seconds, name)
    return merged["count"] - merged["failures"]


def efficiency(host: str, users: int, seconds: int, rounds: int) -> None:
    """Plain vs ours, alternating; print each round, the medians, both ratios and wrk."""
    print(
        f"GET /livez, {users} users, no wait, one process, {seconds} s each, "
        f"{rounds} rounds alternating plain and ours"
    )
    runs: dict[str, list[dict]] = {"plain": [], "ours": []}
    for round_ in range(1, rounds + 1):
        for kind in runs:
            run = locust_run(host, users, seconds, instrumented=kind == "ours")
            runs[kind].append(run)
            print(f"  {f'round {round_} {kind}':28} {_figures(run)}")
    pairs = list(zip(runs["plain"], runs["ours"], strict=True))
    cpu_ratios = [p["cpu_us_per_request"] / o["cpu_us_per_request"] for p, o in pairs]
    rps_ratios = [o["rps"] / p["rps"] for p, o in pairs]
    for kind, label in (("plain", "plain FastHttpUser"), ("ours", "ours (instrumented)")):
        medians = {key: median(run[key] for run in runs[kind]) for key in runs[kind][0]}
        print(f"  {'median ' + label:28} {_figures(medians)}")
    print(f"  {f'wrk -t1 -c{users} (ceiling)':28} {wrk_rps(host, users, seconds):8.0f} req/s")
    print(
        f"  EFFICIENCY (requests per CPU-second, ours / plain, median of the rounds): "
        f"{median(cpu_ratios):.2f}x, {'meets' if median(cpu_ratios) >= 0.9 else 'BELOW'} "
        f"the 0.9x target (rounds: {', '.join(f'{r:.2f}' for r in cpu_ratios)})"
    )
    print(
        f"  throughput (req/s, ours / plain, median of the rounds): {median(rps_ratios):.2f}x "
        "(bounded by the café on the same cores: not the efficiency figure)"
    )


def _figures(run: dict) -> str:
    us = run["cpu_us_per_request"]
    return f"{run['rps']:8.0f} req/s  {us:6.1f} CPU-µs/request  {1e6 / us:8.0f} requests/CPU-s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="http://127.0.0.1:8005")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--hold", type=int, default=30, help="seconds the sockets are held")
    args = parser.parse_args()

    efficiency(args.host, args.users, args.seconds, args.rounds)
    for workers in (1, 2):
        run = locust_run(args.host, args.users, args.seconds, instrumented=True, workers=workers)
        print(f"  {f'ours, {workers} local worker(s)':28} {_figures(run)}")
    ws = websockets(args.host, args.sockets, args.hold)
    print(
        f"WebSockets held by one Locust process: {ws['connected']}/{ws['sockets']} connected, "
        f"{ws['failed_connects']} failed connects, {ws['pushes_per_s_held']} pushes/s while "
        f"held {args.hold} s (lag p99 {ws['push_lag_p99_ms']} ms), RSS {ws['rss_mib']} MiB"
    )


if __name__ == "__main__":
    main()
