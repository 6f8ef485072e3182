"""The experiment families; ``EXPERIMENTS`` maps every experiment file's stem to its builder,
each declaring the café flaws it must catch (``CATCHES`` of its family), or, for one that
runs on Kubernetes only, why it is out of the lab's detection matrix (``KUBERNETES_ONLY``)."""

from collections.abc import Callable
from functools import partial
from typing import Any

from . import data, failure, grey, load
from .blocks import catches

_FAMILIES = (failure, grey, load, data)


def _declared(
    make: Callable[[], dict[str, Any]], flaws: dict[str, str], kubernetes_only: str | None
) -> dict[str, Any]:
    return catches(make(), flaws, kubernetes_only)


EXPERIMENTS = {
    name: partial(
        _declared,
        make,
        family.CATCHES[name],
        getattr(family, "KUBERNETES_ONLY", {}).get(name),
    )
    for family in _FAMILIES
    for name, make in family.EXPERIMENTS.items()
}
