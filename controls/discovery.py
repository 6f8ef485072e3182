"""What ``chaos discover --no-install coffee-chaos`` lists: every action and probe of the toolkit.

The distribution holds several top-level packages; Chaos Toolkit loads the first
(``actions``) and calls its ``discover``, so ``actions`` and ``probes`` both answer
with the whole toolkit: every module's ``__all__``.
"""

from __future__ import annotations

import importlib
import pkgutil

from chaoslib.discovery.discover import (
    discover_actions,
    discover_probes,
    initialize_discovery_result,
)
from chaoslib.types import Discovery

__all__ = ["discover"]


def discover(discover_system: bool = True) -> Discovery:
    """Every activity of the toolkit, with its arguments, for ``chaos discover``."""
    discovery = initialize_discovery_result("coffee-chaos", "0.1.0", "coffee-chaos")
    for package, find in (("actions", discover_actions), ("probes", discover_probes)):
        path = importlib.import_module(package).__path__
        for module in sorted(m.name for m in pkgutil.iter_modules(path)):
            discovery["activities"].extend(find(f"{package}.{module}"))
    return discovery
