"""The admin's message that shows a long job's progress, edited in place.

Edits are paced per chat only: they are few (one every few seconds) and must not take the
broadcast's slots. If the message cannot be edited any more (deleted, too old), a new one is
sent and edited from then on; the caller stores its id so a restart continues with it.
"""
from __future__ import annotations

import logging
from typing import Any

from common.telegram.bot_api import BotApi, BotApiError
from services.scheduler.telegram.ratelimit import RateLimiter

log = logging.getLogger(__name__)
_GONE = ("message to edit not found", "message can't be edited", "MESSAGE_ID_INVALID")


class ProgressMessage:
    def __init__(self, api: BotApi, limiter: RateLimiter, chat_id: int, message_id: int) -> None:
        self.api = api
        self.limiter = limiter
        self.chat_id = chat_id
        self.message_id = message_id
        self._shown: tuple[str, Any] | None = None

    async def show(self, text: str, keyboard: list[list[dict[str, str]]] | None = None) -> int | None:
        """Shows `text`; returns the new message id when a new message had to be sent."""
        markup = {"inline_keyboard": keyboard} if keyboard else None
        if self._shown == (text, markup):
            return None
        await self.limiter.acquire(self.chat_id, counted=False)
        params: dict[str, Any] = {"chat_id": self.chat_id, "message_id": self.message_id, "text": text}
        if markup:
            params["reply_markup"] = markup
        try:
            await self.api.call("editMessageText", params)
        except BotApiError as exc:
            if "message is not modified" in exc.description:
                self._shown = (text, markup)
                return None
            if exc.status == 429:
                self.limiter.pause(exc.retry_after or 1.0)
                return None
            if exc.status == 400 and any(gone in exc.description for gone in _GONE):
                return await self._replace(text, markup)
            log.warning("progress message not updated", extra={"status": exc.status, "error": exc.description})
            return None
        self._shown = (text, markup)
        return None

    async def _replace(self, text: str, markup: dict[str, Any] | None) -> int | None:
        params: dict[str, Any] = {"chat_id": self.chat_id, "text": text}
        if markup:
            params["reply_markup"] = markup
        try:
            await self.limiter.acquire(self.chat_id)
            sent = await self.api.call("sendMessage", params)
        except BotApiError as exc:
            log.warning("progress message could not be replaced", extra={"status": exc.status, "error": exc.description})
            return None
        self.message_id = int(sent["message_id"])
        self._shown = (text, markup)
        return self.message_id
