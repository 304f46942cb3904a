"""Control API of the bot's Stars balance: set it before a paid broadcast, read what was billed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .control_api import _body, _json_handler
from .errors import ControlError
from .keys import WORLD
from .paid_broadcast import PAID_MESSAGE_NANOSTARS, star_amount, to_nanostars
from .state import World


def balance_view(world: World) -> dict[str, Any]:
    balance = world.star_balance
    return {
        **star_amount(balance.nanostars(world.transactions)),
        "billed_messages": balance.billed_messages,
        "billed": star_amount(balance.billed_messages * PAID_MESSAGE_NANOSTARS),
    }


def set_balance(world: World, body: dict[str, Any]) -> dict[str, Any]:
    amount, nanos = body.get("amount"), body.get("nanostar_amount", 0)
    if not isinstance(amount, int) or not isinstance(nanos, int) or not -10**9 < nanos < 10**9:
        raise ControlError(400, "amount (integer Stars) and nanostar_amount (-999999999..999999999) expected")
    world.star_balance.set(world.transactions, to_nanostars(amount, nanos))
    world.wakeup.fire()
    return balance_view(world)


async def get_star_balance(request: web.Request) -> Any:
    return balance_view(request.app[WORLD])


async def post_star_balance(request: web.Request) -> Any:
    return set_balance(request.app[WORLD], await _body(request))


def add_paid_broadcast_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/_control/star_balance", _json_handler(get_star_balance))
    app.router.add_route("POST", "/_control/star_balance", _json_handler(post_star_balance))
