"""The table of Bot API methods, and the checks every message-creating method shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import bad_request, forbidden, too_many_requests
from .models import UserRecord
from .paid_broadcast import BALANCE_TOO_LOW
from .params import Params
from .state import World

Handler = Callable[[World, Params], Awaitable[Any]]

# Telegram matches method names case-insensitively; keys are lower-case, values keep the canonical name.
METHODS: dict[str, tuple[str, Handler]] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = (name, handler)
        return handler

    return register


def lookup(name: str) -> tuple[str, Handler] | None:
    return METHODS.get(name.lower())


def ensure_can_send(world: World, method_name: str, user: UserRecord, *, paid: bool = False) -> None:
    """Blocked users refuse first (403), then flood control (429); a refused send costs no token.
    `paid` (allow_paid_broadcast): past the free limit the send is billed to the bot's Stars, or
    refused whole when the balance is short. Call it last: a billed send must not fail afterwards."""
    if user.blocked:
        raise forbidden("bot was blocked by the user")
    if paid and world.limiter.applies_to(method_name):
        admission = world.limiter.acquire_paid(
            user.id, affordable=world.star_balance.affords_message(world.transactions))
        if admission.retry_after is not None:
            raise too_many_requests(admission.retry_after)
        if admission.short_of_stars:
            raise bad_request(BALANCE_TOO_LOW)
        if admission.billed:
            world.star_balance.bill_message()
        return
    if world.limiter.applies_to(method_name):
        retry_after = world.limiter.acquire(user.id)
        if retry_after is not None:
            raise too_many_requests(retry_after)
