"""Write experiments/*.json from the families (``experiments/families/``).

The JSON files are what `chaos run` and users read, so they stay committed;
a test checks that regenerating them changes nothing.

    python -m experiments.build            # rewrite every experiment file
    python -m experiments.build --check    # list the files that differ; exit 1 if any
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from experiments.families import EXPERIMENTS

HERE = Path(__file__).resolve().parent


def render(body: dict[str, Any]) -> str:
    """The JSON text of an experiment, as committed."""
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def stale() -> list[str]:
    """The experiment files whose text differs from what the families build."""
    return [
        f"{name}.json"
        for name, make in EXPERIMENTS.items()
        if _read(HERE / f"{name}.json") != render(make())
    ]


def write_all() -> list[str]:
    """Rewrite the files that differ; return their names."""
    changed = stale()
    for file_name in changed:
        (HERE / file_name).write_text(render(EXPERIMENTS[file_name[:-5]]()))
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if "--check" in argv:
        differing = stale()
        if differing:
            print(f"out of date (run `python -m experiments.build`): {', '.join(differing)}")
        return 1 if differing else 0
    for file_name in write_all():
        print(f"wrote experiments/{file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
