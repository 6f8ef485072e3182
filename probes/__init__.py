"""Chaos Toolkit probes of Coffee Chaos: what the target and its faults look like now.

``chaos discover --no-install coffee-chaos`` lists them, and the actions, with their arguments.
"""

from controls.discovery import discover

__all__ = ["discover"]
