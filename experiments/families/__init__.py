"""The experiment families; ``EXPERIMENTS`` maps every experiment file's stem to its builder,
each declaring the café flaws it must catch (``CATCHES`` of its family)."""

from collections.abc import Callable
from functools import partial
from typing import Any

from . import data, failure, load
from .blocks import catches

_FAMILIES = (failure, load, data)


def _declared(make: Callable[[], dict[str, Any]], flaws: dict[str, str]) -> dict[str, Any]:
    return catches(make(), flaws)


EXPERIMENTS = {
    name: partial(_declared, make, family.CATCHES[name])
    for family in _FAMILIES
    for name, make in family.EXPERIMENTS.items()
}
