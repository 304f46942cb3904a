"""getMyStarBalance: the bot's Stars balance, which paid broadcasts draw on (see paid_broadcast)."""

from __future__ import annotations

from typing import Any

from .paid_broadcast import star_amount
from .params import Params
from .registry import method
from .state import World


@method("getMyStarBalance")
async def get_my_star_balance(world: World, params: Params) -> Any:
    return star_amount(world.star_balance.nanostars(world.transactions))
