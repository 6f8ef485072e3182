"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe.

``open_page`` loads a file with the network off (Chromium runs in a network namespace
of its own, ``unshare --net``, and the protocol travels over file descriptors 3 and 4,
not a socket), records every request the page makes, and returns a ``Page`` to
evaluate JavaScript in, screenshot and print to PDF.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


def available() -> str | None:
    """Why Chromium cannot run here (None: it can)."""
    if not shutil.which("chromium"):
        return "chromium is not installed (the coffee_chaos role installs it: make lab)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is missing"
    return None


def _as_3_and_4(reads: int, writes: int) -> None:
    """In the child: the browser reads commands on fd 3 and writes replies on fd 4."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (reads, writes)]
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


class Page:
    """One page in a fresh headless Chromium; close it with ``close``."""

    def __init__(self, width: int = 1100, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        os.set_inheritable(to_browser_r, True)
        os.set_inheritable(from_browser_w, True)
        command = ["unshare", "--net", "chromium", *FLAGS, f"--user-data-dir={self.profile}"]
        command.append(f"--window-size={width},{height}")
        self.process = subprocess.Popen(
            command,
            pass_fds=(3, 4, to_browser_r, from_browser_w),  # 3 and 4 after the dup2s
            preexec_fn=lambda: _as_3_and_4(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Network.enable", "Page.enable", "Runtime.enable"):
            self.send(domain, session=True)

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout_s=60)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def load(self, path: Path) -> float:
        """Navigate to ``path``; return the seconds until its load event."""
        began = time.monotonic()
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(timeout_s=60))
        return time.monotonic() - began

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        return result["result"].get("value")

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, height: int) -> Path:
        clip = {"x": 0, "y": 0, "width": 1100, "height": height, "scale": 1}
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            session=True,
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def pdf(self) -> bytes:
        return base64.b64decode(self.send("Page.printToPDF", {}, session=True)["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"chromium did not answer within {timeout_s} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
