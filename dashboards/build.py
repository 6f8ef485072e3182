"""Write the dashboards from gameday/panels.py.

``dashboards/<uid>.json`` for Grafana, ``dashboards/consoles/coffee-chaos.html``
for Prometheus (the lab's live page). A test fails when the committed files
differ from what this builds.

    python -m dashboards.build            # rewrite the files that differ
    python -m dashboards.build --check    # list the files that differ; exit 1 if any
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards import console, grafana
from gameday import panels

HERE = Path(__file__).resolve().parent
CONSOLES = HERE / "consoles"
USAGE = "usage: python -m dashboards.build [--check]"


def artefacts() -> dict[Path, str]:
    """Every file this builds, with its text."""
    files = {HERE / f"{board.uid}.json": grafana.to_json(board) for board in panels.DASHBOARDS}
    files[CONSOLES / console.PAGE] = console.render()
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    """The files whose committed text differs from what ``files`` says (or that are missing)."""
    return [path for path, text in files.items() if _read(path) != text]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    unknown = [arg for arg in argv if arg != "--check"]
    if unknown:
        print(f"unknown argument {unknown[0]!r}: {USAGE}", file=sys.stderr)
        return 2
    files = artefacts()
    differing = stale(files)
    names = [str(path.relative_to(HERE.parent)) for path in differing]
    if "--check" in argv:
        if names:
            print(f"out of date (run `python -m dashboards.build`): {', '.join(names)}")
        return 1 if names else 0
    for path, name in zip(differing, names, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
