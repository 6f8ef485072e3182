"""Toxics: the faults a proxy applies to one direction of its connections (Toxiproxy's types)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

STREAMS = ("downstream", "upstream")
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "limit_data": ("bytes",),
}

_uids = itertools.count(1)


@dataclass
class Toxic:
    """A fault applied to one direction of every connection of a proxy."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    uid: int = field(default_factory=lambda: next(_uids))

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    def __getitem__(self, attribute: str) -> int:
        return self.attributes.get(attribute, 0)


def check_toxicity(value: Any) -> float:
    """A toxic's toxicity (the share of connections it applies to), or a 400."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ApiError(400, f"toxicity must be a number from 0 to 1, got {value!r}")
    return float(value)


def check_attributes(kind: str, raw: Any, base: dict[str, int]) -> dict[str, int]:
    """``base`` updated with ``raw``, the attributes a ``kind`` toxic takes, or a 400."""
    if not isinstance(raw, dict):
        raise ApiError(400, f"attributes must be a JSON object, got {raw!r}")
    allowed = TOXIC_ATTRIBUTES[kind]
    merged = dict(base)
    for key, value in raw.items():
        if key not in allowed:
            raise ApiError(
                400,
                f"unknown attribute {key!r} for toxic type {kind!r}: it takes {', '.join(allowed)}",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ApiError(
                400, f"attribute {key!r} of a {kind} toxic must be a number >= 0, got {value!r}"
            )
        merged[key] = int(value)
    return merged


def parse_toxic(body: Any) -> Toxic:
    """A new toxic from a Toxiproxy-shaped request body, or a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise ApiError(
            400, "the toxic must be a JSON object {name, type, stream, toxicity, attributes}"
        )
    kind = body.get("type")
    if not kind:
        raise ApiError(400, "missing required field: type")
    if kind not in TOXIC_ATTRIBUTES:
        raise ApiError(
            400, f"invalid toxic type: {kind!r}; known types: {', '.join(TOXIC_ATTRIBUTES)}"
        )
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError(400, f"stream was invalid: {stream!r}, can be either upstream or downstream")
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise ApiError(400, f"name must be a string, got {name!r}")
    toxicity = check_toxicity(body.get("toxicity", 1.0))
    attributes = check_attributes(kind, body.get("attributes") or {}, {})
    return Toxic(name, kind, stream, toxicity, attributes)
