"""Chaos Toolkit actions of Coffee Chaos: faults on the target's services, network and load.

``chaos discover --no-install coffee-chaos`` lists them, and the probes, with their arguments.
"""

from controls.discovery import discover

__all__ = ["discover"]
