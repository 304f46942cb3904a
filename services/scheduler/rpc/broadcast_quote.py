"""QUOTE_BROADCAST: what a broadcast would take, before the admin confirms it — how many users it
reaches, and for a paid one the expected cost in Stars beside the bot's balance. Any scheduler can
answer it (one count and one getMyStarBalance); it never starts anything."""
from __future__ import annotations

import logging
from decimal import Decimal

from common.contract.scheduler import QUOTE_BROADCAST, BroadcastQuote, QuoteBroadcast
from common.db.database import Database
from common.lifecycle import ServiceContext
from common.telegram.bot_api import BotApi, BotApiError
from services.scheduler.broadcast.cost import paid_broadcast_cost
from services.scheduler.repositories import broadcasts as repo
from services.scheduler.rpc.admins import require_admin, require_telegram
from services.scheduler.settings import Settings
from services.scheduler.telegram.stars import star_balance

log = logging.getLogger(__name__)
# Within the bot's admin deadline (2 s by default), leaving it time for the count and the answer.
BALANCE_TIMEOUT = 1.0


class BroadcastQuoteHandler:
    def __init__(self, db: Database, settings: Settings, api: BotApi | None) -> None:
        self.db = db
        self.settings = settings
        self.api = api

    def register(self, ctx: ServiceContext) -> None:
        ctx.rpc.handle(QUOTE_BROADCAST, self.quote)

    async def quote(self, request: QuoteBroadcast) -> BroadcastQuote:
        require_admin(self.settings, request.admin_id)
        require_telegram(self.settings)
        config = self.settings.scheduler
        async with self.db.acquire() as conn:
            recipients = await repo.audience_size(conn, request.audience, request.language)
        cost = paid_broadcast_cost(recipients, config.broadcast_paid_rate)
        balance: Decimal | None = None
        error: str | None = None
        if self.api is not None:
            try:
                balance = await star_balance(self.api, timeout=BALANCE_TIMEOUT)
            except BotApiError as exc:
                log.warning("Stars balance not known", extra={"status": exc.status, "error": exc.description})
                error = f"{exc.status}: {exc.description}"[:200] if exc.status else exc.description[:200]
        return BroadcastQuote(recipients=recipients, free_rate=config.broadcast_rate,
                              paid_rate=config.broadcast_paid_rate, stars_estimate=cost.estimate,
                              stars_max=cost.ceiling, balance=balance, balance_error=error)
