"""Telling the person behind any update a short notice (throttled, banned, degraded, error),
whatever kind of update it is: a toast for a button, a message for a message, a refusal for a
Stars pre-checkout (which must always be answered)."""
from __future__ import annotations

import logging
from typing import Any

from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update

from services.bot.i18n import Translations, Translator

log = logging.getLogger(__name__)


def translator_for(data: dict[str, Any]) -> Translator:
    """The user's translator once the user middleware ran; before that, their Telegram language."""
    if "t" in data:
        return data["t"]
    texts: Translations = data["texts"]
    user = data.get("event_from_user")
    return texts.get(texts.resolve(user.language_code if user else None))


def is_payment_update(update: Update) -> bool:
    """Updates that carry money: never throttled or dropped, whoever sends them."""
    if update.pre_checkout_query is not None:
        return True
    message = update.message
    return message is not None and (message.successful_payment is not None or message.refunded_payment is not None)


def never_held_back(update: Update) -> bool:
    """Updates no ban or throttle may stop: money (payments decides), and the user blocking or
    unblocking the bot (we must record it, and there is no one to tell)."""
    return is_payment_update(update) or update.my_chat_member is not None


def degraded_text(update: Update, t: Translator) -> str:
    if update.message is not None and update.message.successful_payment is not None:
        # The money is Telegram's record; payments settles it from getStarTransactions later.
        return t("stars.paid_later")
    return t("error.degraded")


async def tell(update: Update, data: dict[str, Any], text: str) -> None:
    try:
        if update.callback_query is not None:
            answer = data.get("answer")
            if answer is not None and answer.sent:
                # The tap was answered before the work started: the notice becomes a message.
                await data["bot"].send_message(update.callback_query.from_user.id, text)
            elif answer is not None:
                answer.set(text, alert=True)
            else:
                await update.callback_query.answer(text[:200], show_alert=True)
        elif update.message is not None:
            await data["bot"].send_message(update.message.chat.id, text)
        elif update.pre_checkout_query is not None:
            await update.pre_checkout_query.answer(ok=False, error_message=text[:255])
    except TelegramAPIError as exc:
        log.warning("could not deliver a notice", extra={"error": type(exc).__name__})
