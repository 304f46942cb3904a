"""RPC methods served by vpn_gateway."""
from __future__ import annotations

from common.contract.base import Body, method  # noqa: F401
