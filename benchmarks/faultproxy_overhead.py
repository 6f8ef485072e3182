"""Round-trip overhead of the fault proxy: Redis PING direct vs through the proxy (no toxic).

Runs ``python3 -m faultproxy`` from this checkout, or from the directory given as the
first argument (the lab's copy: ``/opt/coffee-chaos/faultproxy``).
"""

import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE_DIR = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
ROUNDS = 20_000


def ping_pong(port: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
            if reply != b"+PONG\r\n":
                raise SystemExit(f"unexpected reply {reply!r} after {len(times)} round trips")
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
        json.dump(
            [{"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379"}], config
        )
        config.flush()
        proxy = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faultproxy",
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.name,
            ],
            cwd=PACKAGE_DIR,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = int(re.search(r"redis created: 127.0.0.1:(\d+)", proxy.stderr.readline()).group(1))
        try:
            for label, target in (("direct", 6379), ("proxied", port)):
                times = sorted(ping_pong(target))
                print(
                    f"{label:8} p50={times[len(times) // 2] * 1e6:.0f} us "
                    f"p99={times[int(len(times) * 0.99)] * 1e6:.0f} us "
                    f"rate={len(times) / sum(times):.0f} round trips/s "
                    f"mean={statistics.mean(times) * 1e6:.0f} us"
                )
        finally:
            proxy.terminate()
            proxy.wait(5)


if __name__ == "__main__":
    main()
