"""Check a load shape from outside Locust's process: ``python -m workloads.shapes NAME PARAMS_JSON``.

Prints ``{"max_users", "duration_s", "tasks_per_user_s"}`` as JSON, or the
problem on stderr with exit code 2. The chaos process calls this instead of
importing workloads.
"""

from __future__ import annotations

import json
import sys

from . import ShapeError, build


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m workloads.shapes NAME PARAMS_JSON", file=sys.stderr)
        return 2
    try:
        params = json.loads(argv[1])
        plan = build(argv[0], params)
    except (ShapeError, json.JSONDecodeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    facts = {
        "max_users": plan.max_users,
        "duration_s": plan.duration_s,
        "tasks_per_user_s": plan.tasks_per_user_s,
    }
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
