"""The exception boundary: no user ever sees a traceback.

A failure is logged once with a short error id, and the user gets a friendly notice carrying the
same id (so support can find the log line). A database that went away mid-update gets the
degraded notice instead: it is a state, not a bug.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from common.db.database import DatabaseUnavailable
from services.bot.notices import degraded_text, tell, translator_for

log = logging.getLogger("atcs.bot.errors")


class ExceptionBoundary(BaseMiddleware):
    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except DatabaseUnavailable as exc:
            assert isinstance(event, Update)
            log.warning("database unavailable while handling an update",
                        extra={**_where(event, data), "error": str(exc)[:200]})
            await tell(event, data, degraded_text(event, translator_for(data)))
        except Exception:
            assert isinstance(event, Update)
            error_id = secrets.token_hex(4)
            log.exception("update handling failed", extra={**_where(event, data), "error_id": error_id})
            t = translator_for(data)
            await tell(event, data, t("error.generic", id=error_id))
        return None


def _where(update: Update, data: dict[str, Any]) -> dict[str, Any]:
    user = data.get("event_from_user")
    return {"update_id": update.update_id, "update_type": update.event_type, "user_id": user.id if user else None}
