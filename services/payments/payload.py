"""The invoice payload that carries our purchase id to the provider and back."""
from __future__ import annotations

import re

PREFIX = "atcs:"
_PATTERN = re.compile(r"atcs:([1-9][0-9]{0,17})")


def encode(purchase_id: int) -> str:
    return f"{PREFIX}{purchase_id}"


def decode(payload: object) -> int | None:
    """Our purchase id, or None for anything that is not a payload we wrote."""
    if not isinstance(payload, str):
        return None
    match = _PATTERN.fullmatch(payload)
    return int(match.group(1)) if match else None
