"""A user switches the renewal of their Telegram Stars subscription off or back on from "My
subscription". Telegram keeps the subscription (editUserStarSubscription); we keep what the
screen shows. Cancelling stops the next charge only: the period already paid runs to its end, and
when no renewal comes the scheduler's usual reminders and expiry end the access."""
from __future__ import annotations

import logging

from common.contract.base import RpcErrorCode
from common.contract.payments import StarSubscriptionEdit, StarSubscriptionState
from common.db.database import Database
from common.ipc.errors import RpcError
from common.telegram.bot_api import BotApiError
from services.payments.purchase_ref import MAX_ID
from services.payments.repositories import star_subscriptions
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)


class StarSubscriptions:
    def __init__(self, db: Database, bot_api: StarsApi | None) -> None:
        self.db = db
        self.bot_api = bot_api

    async def edit(self, request: StarSubscriptionEdit) -> StarSubscriptionState:
        if not 0 < request.user_id < MAX_ID:
            raise RpcError(RpcErrorCode.NOT_FOUND, "no such user")
        async with self.db.acquire() as conn:
            sub = await star_subscriptions.latest(conn, request.user_id)
            now = await conn.fetchval("SELECT now()")
        if sub is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, "the user has no Stars subscription")
        if sub.canceled == request.cancel:
            return StarSubscriptionState(purchase_id=sub.purchase_id, canceled=sub.canceled, period_end=sub.period_end)
        if sub.period_end is not None and sub.period_end <= now:
            raise RpcError(RpcErrorCode.CONFLICT, "the subscription has ended; subscribe again")
        if self.bot_api is None:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "the Bot API is not configured")
        # Telegram first: the screen must never say "cancelled" while Telegram still charges.
        try:
            await self.bot_api.edit_user_star_subscription(request.user_id, sub.charge_id, request.cancel)
        except BotApiError as exc:
            if exc.transient:
                raise RpcError(RpcErrorCode.UNAVAILABLE, "Telegram is not answering; try again") from None
            log.warning("editUserStarSubscription refused", extra={"purchase_id": sub.purchase_id,
                                                                   "error": exc.description})
            raise RpcError(RpcErrorCode.CONFLICT, f"Telegram refused: {exc.description}") from None
        async with self.db.acquire() as conn:
            changed = await star_subscriptions.set_canceled(conn, sub.purchase_id, request.cancel)
        assert changed is not None
        log.info("stars subscription edited", extra={"purchase_id": sub.purchase_id, "canceled": request.cancel})
        return StarSubscriptionState(purchase_id=changed.purchase_id, canceled=changed.canceled,
                                     period_end=changed.period_end)
