"""Composition root of the vpn_gateway process."""
from __future__ import annotations

from common.lifecycle import ServiceContext


async def setup(ctx: ServiceContext) -> None:
    pass
