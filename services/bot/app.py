"""Composition root of the bot process: the Bot, the dispatcher, polling, the notification sender."""
from __future__ import annotations

import logging

from aiogram.types import BotCommand
from aiogram.utils.token import TokenValidationError

from common.contract.bot import NUDGE_NOTIFICATIONS, NotificationsPending, NudgeNotifications
from common.lifecycle import ServiceContext
from services.bot.dispatcher import build_dispatcher
from services.bot.followups import Followups
from services.bot.i18n import Translations
from services.bot.invoices import InvoicePresenter
from services.bot.notifications.sender import NotificationSender
from services.bot.peers import Peers
from services.bot.repositories import notifications as outbox
from services.bot.telegram.polling import Polling
from services.bot.telegram.session import build_bot

log = logging.getLogger("atcs.bot")
COMMANDS = ("start", "buy", "subscription", "trial", "referrals", "balance", "language", "help")


async def setup(ctx: ServiceContext) -> None:
    settings = ctx.settings
    token = settings.telegram.bot_token
    texts = Translations()
    problem: list[str] = []
    polling: Polling | None = None

    def telegram_configured() -> tuple[bool, str]:
        if token is None or not token.get_secret_value():
            return False, "ATCS_BOT_TOKEN is not set: no Telegram bot to run (the README's run command starts the demo sandbox)"
        if problem:
            return False, problem[0]
        return polling.readiness() if polling else (False, "not started")

    ctx.add_readiness("telegram", telegram_configured)

    async def pending_notifications() -> int:
        async with ctx.db.acquire() as conn:
            return await outbox.pending_count(conn)

    ctx.add_queue("notifications", pending_notifications)
    sender: NotificationSender | None = None

    async def nudge(_: NudgeNotifications) -> NotificationsPending:
        if sender is not None:
            sender.nudge()
        return NotificationsPending(pending=await pending_notifications())

    ctx.rpc.handle(NUDGE_NOTIFICATIONS, nudge)

    if token is None or not token.get_secret_value():
        log.warning("ATCS_BOT_TOKEN is not set: the bot stays up but does not poll Telegram")
        return
    try:
        bot = build_bot(settings, token.get_secret_value())
    except TokenValidationError:
        problem.append("ATCS_BOT_TOKEN is malformed (expected <digits>:<secret> from @BotFather)")
        log.error("ATCS_BOT_TOKEN is malformed; the bot stays up but does not poll Telegram")
        return

    peers = Peers(ctx.client, settings.bot)
    followups = Followups()
    invoices = InvoicePresenter(bot, peers, followups, settings)
    dp = build_dispatcher(db=ctx.db, settings=settings, texts=texts, peers=peers, followups=followups,
                          invoices=invoices)
    polling = Polling(dp, bot, settings)
    sender = NotificationSender(ctx.db, bot, texts, settings)

    async def publish_commands() -> None:
        # Best effort: the menu of commands in the client; failing it must not stop polling.
        for locale in texts.locales:
            t = texts.get(locale)
            commands = [BotCommand(command=name, description=_describe(t, name)) for name in COMMANDS]
            try:
                await bot.set_my_commands(commands, language_code=None if locale == "en" else locale)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not publish bot commands", extra={"error": type(exc).__name__})
                return

    dp.startup.register(publish_commands)
    ctx.supervise("polling", polling.run)
    ctx.supervise("notifications", sender.run)
    ctx.add_detail("notifications_sent", lambda: sender.sent)
    ctx.add_detail("followups", lambda: len(followups))

    budget = settings.health.shutdown_timeout

    async def stop_taking_updates() -> None:
        await polling.drain(grace=budget / 4)

    ctx.on_drain(stop_taking_updates)
    ctx.on_shutdown(bot.session.close)       # last: the sender and follow-ups use it until they stop
    ctx.on_shutdown(followups.stop)


def _describe(t, name: str) -> str:
    # Spelled out so the translation-keys test sees every key.
    return {"start": t("commands.start"), "buy": t("commands.buy"), "subscription": t("commands.subscription"),
            "trial": t("commands.trial"), "referrals": t("commands.referrals"), "balance": t("commands.balance"),
            "language": t("commands.language"), "help": t("commands.help")}[name]
