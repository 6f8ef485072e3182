"""Run the API: ``python -m refcafe.api`` (uvicorn, one worker, uvloop + httptools)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import create_app
from .settings import Settings, SettingsError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"refcafe.api: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.app_host,
        port=settings.app_port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=settings.keepalive_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
