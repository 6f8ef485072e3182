"""The table-lock holder (``python -m gameday.lockholder``), started by ``gameday.pglock``.

Reads its orders (``schema``, ``table``, ``mode``, ``hold_s``) as one JSON line on stdin and
the DSN from ``$LOCKHOLDER_DSN``, opens a transaction, takes ``LOCK TABLE ... IN <mode>
MODE``, prints ``ready <backend pid>`` and holds the lock for ``hold_s``, then exits (the
transaction rolls back). The server ends the session too if the holder is stopped for longer
(``idle_in_transaction_session_timeout``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import psycopg
from psycopg import sql

from gameday.postgres import sanitise

DSN_ENV = "LOCKHOLDER_DSN"
APPLICATION = "coffee-chaos-lock"
SERVER_MARGIN_S = 5


def main() -> int:
    orders = json.loads(sys.stdin.readline())
    dsn = os.environ.pop(DSN_ENV)
    hold_s = float(orders["hold_s"])
    try:
        conn = psycopg.connect(dsn, connect_timeout=5, application_name=APPLICATION)
        conn.execute(
            sql.SQL("SET idle_in_transaction_session_timeout = {}").format(
                sql.Literal(int((hold_s + SERVER_MARGIN_S) * 1000))
            )
        )
        conn.execute(
            sql.SQL("LOCK TABLE {}.{} IN {} MODE").format(
                sql.Identifier(orders["schema"]),
                sql.Identifier(orders["table"]),
                sql.SQL(orders["mode"]),  # one of pglock.MODES, checked by the caller
            )
        )
        backend = conn.info.backend_pid
    except psycopg.Error as exc:
        print(f"cannot lock: {sanitise(str(exc), dsn)}", file=sys.stderr)
        return 1
    print(f"ready {backend}", flush=True)
    time.sleep(hold_s)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
