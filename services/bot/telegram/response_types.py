"""aiogram reads every Bot API answer as `Response[<the method's result type>]`, a pydantic generic
made on first use and then kept by pydantic only weakly. A class sits in reference cycles, so the
next garbage collection frees it and the next answer builds it again: about 13 ms of schema
building, in the middle of an update, every time the collector has run (a tenth of the bot's CPU
under load, bench/bench_capacity.py). Made once at start and held here, each is built only once."""
from __future__ import annotations

from typing import Any

import aiogram.methods
from aiogram.methods.base import Response, TelegramMethod
from pydantic.errors import PydanticSchemaGenerationError

_HELD: list[Any] = []


def hold_response_types() -> int:
    """Builds Response[T] for every Bot API method's result type and keeps it; returns how many."""
    if not _HELD:
        results = {method.__returning__ for method in vars(aiogram.methods).values()
                   if isinstance(method, type) and issubclass(method, TelegramMethod)
                   and method is not TelegramMethod and getattr(method, "__returning__", None) is not None}
        for result in results:
            try:
                _HELD.append(Response[result])  # type: ignore[valid-type]
            except (TypeError, PydanticSchemaGenerationError):
                pass  # an abstract base's placeholder, not a result type any answer is read as
    return len(_HELD)
