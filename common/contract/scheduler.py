"""RPC methods served by scheduler."""
from __future__ import annotations

from common.contract.base import Body, method  # noqa: F401
