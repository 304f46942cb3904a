"""A user switches the renewal of their Telegram Stars subscription off or back on from "My
subscription". Telegram keeps the subscription (editUserStarSubscription); we keep what the
screen shows. Cancelling stops the next charge only: the period already paid runs to its end, and
when no renewal comes the scheduler's usual reminders and expiry end the access. A subscription a
refund cancelled (`renewal_cancels.py`) stays cancelled: the user subscribes again instead."""
from __future__ import annotations

import logging
from collections.abc import Callable

from common.contract.base import RpcErrorCode
from common.contract.payments import StarSubscriptionEdit, StarSubscriptionState
from common.db.database import Database
from common.ipc.errors import RpcError
from common.telegram.bot_api import BotApiError
from services.payments.purchase_ref import MAX_ID
from services.payments.repositories import renewal_cancels, star_subscriptions
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)


class StarSubscriptions:
    def __init__(self, db: Database, bot_api: StarsApi | None, renewal_cancels: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.bot_api = bot_api
        self.renewal_cancels = renewal_cancels   # nudges the worker of star_renewal_cancels

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
        if sub.canceled_by_refund is not None:
            raise RpcError(RpcErrorCode.CONFLICT, "a refund cancelled the subscription; subscribe again")
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
        async with self.db.transaction() as conn:
            changed = await star_subscriptions.set_canceled(conn, sub.purchase_id, request.cancel)
            if changed is None:
                # A refund cancelled it while we asked Telegram: a re-enable that reached Telegram
                # after the refund's cancel must be undone, so the cancel is owed again.
                await renewal_cancels.requeue(conn, sub.purchase_id)
                changed = await star_subscriptions.get(conn, sub.purchase_id)
        assert changed is not None
        if changed.canceled_by_refund is not None:
            self.renewal_cancels()
            if not request.cancel:
                raise RpcError(RpcErrorCode.CONFLICT, "a refund cancelled the subscription; subscribe again")
        log.info("stars subscription edited", extra={"purchase_id": sub.purchase_id, "canceled": request.cancel})
        return StarSubscriptionState(purchase_id=changed.purchase_id, canceled=changed.canceled,
                                     period_end=changed.period_end)
