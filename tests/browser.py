"""Headless Chromium (Debian's `chromium`, installed by the coffee_chaos role) for the live page."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Long enough for every graph's query_range requests to come back.
VIRTUAL_TIME_BUDGET_MS = 15000


def chromium(url: str, *args: str, timeout: float = 60) -> tuple[str, float]:
    """Load ``url`` with a fresh profile; return what Chromium printed and the seconds it took."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: provision the lab (roles/coffee_chaos installs it)"
    with tempfile.TemporaryDirectory(prefix="coffee-chaos-chromium-") as profile:
        began = time.monotonic()
        done = subprocess.run(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
                *args,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - began
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout, seconds


def screenshot(url: str, path: Path, size: str = "1400,1300") -> float:
    """Save a screenshot of ``url`` as ``path``; return the seconds it took."""
    _, seconds = chromium(url, f"--screenshot={path}", f"--window-size={size}")
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"
    return seconds


def graphs(dom: str) -> dict[str, str]:
    """Each live-page graph's id -> its rendered HTML (from `chromium --dump-dom`)."""
    parts = re.split(r'<div class="coffee-chaos-graph" id="([^"]+)">', dom)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def has_data(graph: str) -> bool:
    """Rickshaw drew a plot, and Prometheus's console library reported no error."""
    return "<svg" in graph and "<path" in graph and "prom_graph_error" not in graph
