"""Composition root of the bot process.

Registered at once (cheap): readiness, the notification queue depth, NUDGE_NOTIFICATIONS. Then
the aiogram part (assembly.py) is imported in a worker thread, so ping and /healthz answer while
aiogram loads, and started: polling and the notification sender as supervised tasks, polling
stopped first on SIGTERM, the Telegram session closed last.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from types import ModuleType

from common.contract.bot import NUDGE_NOTIFICATIONS, NotificationsPending, NudgeNotifications
from common.lifecycle import ServiceContext
from services.bot.i18n import Translations
from services.bot.repositories import notifications as outbox
from services.bot.settings import Settings

log = logging.getLogger("atcs.bot")


async def setup(ctx: ServiceContext[Settings]) -> None:
    settings = ctx.settings
    token = settings.telegram.bot_token
    texts = Translations()
    state: dict[str, object] = {"problem": "starting"}

    def telegram_configured() -> tuple[bool, str]:
        if token is None or not token.get_secret_value():
            return False, "ATCS_BOT_TOKEN is not set: no Telegram bot to run (the README's run command starts the demo sandbox)"
        if "polling" in state:
            return state["polling"].readiness()
        return False, str(state["problem"])

    ctx.add_readiness("telegram", telegram_configured)

    ctx.add_db_queue("notifications", outbox.pending_count)

    async def nudge(_: NudgeNotifications) -> NotificationsPending:
        if "sender" in state:
            state["sender"].nudge()
        async with ctx.db.acquire() as conn:
            return NotificationsPending(pending=await outbox.pending_count(conn))

    ctx.rpc.handle(NUDGE_NOTIFICATIONS, nudge)

    if token is None or not token.get_secret_value():
        log.warning("ATCS_BOT_TOKEN is not set: the bot stays up but does not poll Telegram")
        return
    # The token's polling lock is already held: __main__ takes it before any heavy import.
    assembly = await asyncio.to_thread(_import_assembly)
    try:
        parts = assembly.assemble(ctx, texts, token.get_secret_value())
    except assembly.MalformedToken as exc:
        state["problem"] = str(exc)
        log.error("the bot stays up but does not poll Telegram", extra={"reason": str(exc)})
        return
    state["polling"], state["sender"] = parts.polling, parts.sender
    # aiogram's hundreds of types, the handlers and the settings live as long as the process: out
    # of the collector's sight, a full collection no longer walks them (100+ ms pauses that were
    # the bot's p99 under load, bench/bench_capacity.py).
    gc.freeze()
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # aiogram logs every handled update at INFO ("Update id=... is handled"): a log line per
        # update is a large part of an update's cost, and says nothing a metric does not.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)

    ctx.supervise("polling", parts.polling.run)
    ctx.supervise("notifications", parts.sender.run)
    ctx.add_detail("notifications_sent", lambda: parts.sender.sent)
    ctx.add_detail("followups", lambda: len(parts.followups))
    ctx.add_detail("polling", parts.polling.describe)

    async def stop_taking_updates() -> None:
        await parts.polling.drain(grace=settings.health.shutdown_timeout / 4)

    ctx.on_drain(stop_taking_updates)
    ctx.on_shutdown(parts.bot.session.close)   # last: the sender and follow-ups use it until they stop
    ctx.on_shutdown(parts.followups.stop)


def _import_assembly() -> ModuleType:
    from services.bot import assembly
    from services.bot.telegram.response_types import hold_response_types
    # Warm-up before readiness, in this thread: what aiogram would otherwise build on the first updates.
    hold_response_types()
    return assembly
