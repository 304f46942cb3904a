"""Every callback query is answered exactly once, whatever happens below.

aiogram's CallbackAnswerMiddleware is an inner middleware: it never sees a tap that no handler
matched (tampered data) nor one refused by an outer middleware. This one wraps the whole update,
hands handlers an `answer` object to set the toast text (or answer early, before slow work), and
answers in `finally` if nobody did.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, TelegramObject, Update

log = logging.getLogger(__name__)


class Answer:
    def __init__(self, query: CallbackQuery) -> None:
        self.query = query
        self.text: str | None = None
        self.alert = False
        self.sent = False

    def set(self, text: str | None, *, alert: bool = False) -> None:
        """The toast to show when the tap is answered (later calls win; ignored once sent)."""
        if not self.sent:
            self.text = text
            self.alert = alert

    async def now(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer at once: before work the user should not watch a spinner for."""
        if text is not None:
            self.set(text, alert=alert)
        await self.send()

    async def send(self) -> None:
        if self.sent:
            return
        self.sent = True  # before the await: a concurrent path must not answer a second time
        try:
            await self.query.answer(text=self.text[:200] if self.text else None, show_alert=self.alert or None)
        except TelegramAPIError as exc:
            log.warning("callback answer refused", extra={"error": type(exc).__name__})


class CallbackAnswerMiddleware(BaseMiddleware):
    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        query = event.callback_query if isinstance(event, Update) else None
        if query is None:
            return await handler(event, data)
        answer = data["answer"] = Answer(query)
        try:
            return await handler(event, data)
        finally:
            await answer.send()
