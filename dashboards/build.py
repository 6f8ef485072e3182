"""Write the dashboards from gameday/panels.py: ``python -m dashboards.build``.

``dashboards/<uid>.json`` for Grafana, ``dashboards/consoles/coffee-chaos.html``
for Prometheus (the lab's live page). A test fails when the committed files
differ from what this builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards import console, grafana
from gameday import panels

HERE = Path(__file__).resolve().parent
CONSOLES = HERE / "consoles"


def artefacts() -> dict[Path, str]:
    """Every file this builds, with its text."""
    files = {HERE / f"{board.uid}.json": grafana.to_json(board) for board in panels.DASHBOARDS}
    files[CONSOLES / console.PAGE] = console.render()
    return files


def main() -> int:
    for path, text in artefacts().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
