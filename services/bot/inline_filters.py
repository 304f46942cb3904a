"""aiogram runs a filter that is a plain function, every magic filter (`F.data == "x"`,
`F.from_user.id.in_(admins)`) included, in a worker thread through asyncio.to_thread: a thread
hand-off and two loop wake-ups per filter and update, a fifth of the bot's CPU under load
(bench/bench_capacity.py). A filter only looks at the update, so once the routers are built each
such filter is called inline instead (handlers are left as they are)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def run_filters_inline(root: Router) -> int:
    """Every filter of `root` and the routers below it that aiogram would run in a thread now runs
    on the loop; returns how many were changed."""
    changed = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            for handler in [observer._handler, *observer.handlers]:  # router-level filters, then each handler's
                for item in handler.filters or ():
                    if not item.awaitable:
                        _inline(item)
                        changed += 1
    return changed


def _inline(item: FilterObject) -> None:
    check: Callable[..., Any] = item.callback

    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)
    # The parameters aiogram passes were read from the original callable at registration (params,
    # varkw) and stay as they are.
    item.callback, item.awaitable = inline, True
