"""The fault proxy's entry point: ``python3 -m faultproxy --listen ... --config ...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from . import __doc__ as ABOUT
from .addresses import check_listen
from .errors import ApiError
from .httpapi import HTTP_MAX_HEADER, serve_api
from .proxies import FaultProxy

logger = logging.getLogger("faultproxy")


def load_config(path: Path) -> Any:
    """The populate-format config file, or a ValueError naming the file and the problem."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"config file {path} does not exist; create it (a JSON list of "
            "{name, listen, upstream, enabled}) or omit --config"
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from None


async def run(listen: str, config: Any, allow_remote_upstream: bool) -> None:
    """Start the proxies and the control API; run until SIGTERM or SIGINT."""
    app = FaultProxy(allow_remote_upstream)
    host, port = check_listen(listen, "--listen")
    if config is not None:
        await app.populate(config)
    server = await asyncio.start_server(
        lambda r, w: serve_api(app, r, w),
        host,
        port,
        limit=HTTP_MAX_HEADER,
        reuse_address=True,
    )
    bound = server.sockets[0].getsockname()
    logger.info("control API listening on %s:%s", bound[0], bound[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for proxy in app.proxies.values():
        await proxy.stop()
    logger.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultproxy", description=ABOUT.splitlines()[0])
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8474",
        help="control API address, loopback only (default 127.0.0.1:8474)",
    )
    parser.add_argument("--config", type=Path, help="proxies to create (populate format)")
    parser.add_argument(
        "--allow-remote-upstream",
        action="store_true",
        help="allow upstreams that are not loopback addresses",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s faultproxy %(levelname)s %(message)s",
    )
    try:
        config = load_config(args.config) if args.config else None
        asyncio.run(run(args.listen, config, args.allow_remote_upstream))
    except (ApiError, ValueError) as exc:
        print(f"faultproxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"faultproxy: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
