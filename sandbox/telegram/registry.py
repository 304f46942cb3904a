"""The table of Bot API methods, and the checks every message-creating method shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import forbidden, too_many_requests
from .models import UserRecord
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


def ensure_can_send(world: World, method_name: str, user: UserRecord) -> None:
    """Blocked users refuse first (403), then flood control (429); a refused send costs no token."""
    if user.blocked:
        raise forbidden("bot was blocked by the user")
    if world.limiter.applies_to(method_name):
        retry_after = world.limiter.acquire(user.id)
        if retry_after is not None:
            raise too_many_requests(retry_after)
