"""Uploads a file as a document. aiohttp streams a file object in chunks read by its executor,
so a file of any size costs neither memory nor event-loop time."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from common.telegram.bot_api import BotApi
from services.scheduler.telegram.ratelimit import RateLimiter


async def send_document(api: BotApi, limiter: RateLimiter, chat_id: int, path: Path, file_name: str,
                        caption: str, timeout: float) -> int:
    await limiter.acquire(chat_id)
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(chat_id))
        form.add_field("caption", caption)
        content_type = "application/gzip" if file_name.endswith(".gz") else "text/csv"
        form.add_field("document", handle, filename=file_name, content_type=content_type)
        message = await api.call("sendDocument", form=form, timeout=timeout)
    finally:
        await asyncio.to_thread(handle.close)
    return int(message["message_id"])
