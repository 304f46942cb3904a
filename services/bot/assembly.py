"""Everything that needs aiogram, put together once the token is known: the Bot, the dispatcher,
polling and the notification sender. app.py imports this module in a worker thread, because
aiogram builds its hundreds of pydantic types at import (seconds of CPU) and the process must
answer ping and /healthz from its first second (supervisord and the kill -9 test expect it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat
from aiogram.utils.token import TokenValidationError

from common.lifecycle import ServiceContext
from services.bot.peers.admin import AdminPeers
from services.bot.dispatcher import build_dispatcher
from services.bot.followups import Followups
from services.bot.i18n import Translations, Translator
from services.bot.invoices import InvoicePresenter
from services.bot.notifications.sender import NotificationSender
from services.bot.peers.shop import Peers
from services.bot.telegram.polling import Polling
from services.bot.telegram.session import build_bot
from services.bot.telegram.webhook import WebhookReceiver

log = logging.getLogger("atcs.bot")


class MalformedToken(Exception):
    pass


@dataclass
class Assembled:
    bot: Bot
    polling: Polling | WebhookReceiver
    sender: NotificationSender
    followups: Followups


def assemble(ctx: ServiceContext, texts: Translations, token: str) -> Assembled:
    settings = ctx.settings
    try:
        bot = build_bot(settings, token)
    except TokenValidationError:
        raise MalformedToken("ATCS_BOT_TOKEN is malformed (expected <digits>:<secret> from @BotFather)") from None
    peers = Peers(ctx.client, settings.bot)
    followups = Followups()
    invoices = InvoicePresenter(bot, peers, followups, settings)
    dp = build_dispatcher(db=ctx.db, settings=settings, texts=texts, peers=peers, followups=followups,
                          invoices=invoices, admin_peers=AdminPeers(ctx.client, settings.bot))
    # Long polling by one bot of all hosts (a lease decides which), or a webhook served by every one.
    receiver = WebhookReceiver if settings.bot.bot_webhook_url else Polling
    polling = receiver(dp, bot, settings, ctx.db, token)
    sender = NotificationSender(ctx.db, bot, texts, settings)

    async def publish_commands() -> None:
        # Best effort: the command list in the client; failing it must not stop polling.
        for locale in texts.locales:
            t = texts.get(locale)
            commands = [BotCommand(command=name, description=text) for name, text in command_texts(t).items()]
            language = None if locale == "en" else locale
            try:
                await bot.set_my_commands(commands, language_code=language)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not publish bot commands", extra={"error": type(exc).__name__})
                return
            # Admins also see /admin, in their own chat only (refused for an admin who never wrote to the bot).
            commands.append(BotCommand(command="admin", description=t("commands.admin")))
            for admin_id in settings.telegram.admin_ids:
                try:
                    await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=admin_id),
                                              language_code=language)
                except Exception as exc:  # noqa: BLE001
                    log.warning("could not publish admin commands", extra={"error": type(exc).__name__,
                                                                           "admin_id": admin_id})

    dp.startup.register(publish_commands)
    return Assembled(bot=bot, polling=polling, sender=sender, followups=followups)


def command_texts(t: Translator) -> dict[str, str]:
    return {"start": t("commands.start"), "buy": t("commands.buy"), "subscription": t("commands.subscription"),
            "trial": t("commands.trial"), "referrals": t("commands.referrals"), "balance": t("commands.balance"),
            "gifts": t("commands.gifts"), "language": t("commands.language"), "help": t("commands.help")}
