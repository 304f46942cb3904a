"""RPC methods served by payments."""
from __future__ import annotations

from common.contract.base import Body, method  # noqa: F401
