"""The connection holder (``python -m gameday.connholder``), started by ``gameday.pgconns``.

Reads its orders (``limit``, ``hold_s``) as one JSON line on stdin and the DSN from
``$CONNHOLDER_DSN``, opens connections until the server refuses one for want of a slot or
``limit`` are open, prints ``ready <opened>`` and holds them for ``hold_s``, then exits
(they close). The server ends them too if the holder is stopped
for longer (``idle_session_timeout``, PostgreSQL 14 and later).
"""

from __future__ import annotations

import json
import os
import sys
import time

import psycopg

from gameday.postgres import sanitise

DSN_ENV = "CONNHOLDER_DSN"
APPLICATION = "coffee-chaos-hog"
SERVER_MARGIN_S = 5
# What the server says when no slot is left (libpq gives a connection failure no SQLSTATE):
# "sorry, too many clients already", "remaining connection slots are reserved for ...",
# "too many connections for role/database ...".
NO_SLOT = ("too many clients", "connection slots are reserved", "too many connections")


def main() -> int:
    orders = json.loads(sys.stdin.readline())
    dsn = os.environ.pop(DSN_ENV)
    hold_s, limit = float(orders["hold_s"]), int(orders["limit"])
    idle_ms = int((hold_s + SERVER_MARGIN_S) * 1000)
    held: list[psycopg.Connection] = []
    try:
        while len(held) < limit:
            held.append(
                psycopg.connect(
                    dsn,
                    connect_timeout=5,
                    application_name=APPLICATION,
                    options=f"-c idle_session_timeout={idle_ms}",
                )
            )
    except psycopg.Error as exc:
        if not held or not any(words in str(exc) for words in NO_SLOT):
            print(f"cannot connect: {sanitise(str(exc), dsn)}", file=sys.stderr)
            return 1
        # refused for want of a slot: every free one is ours, what we came for
    print(f"ready {len(held)}", flush=True)
    time.sleep(hold_s)
    for conn in held:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
