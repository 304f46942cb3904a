"""The one way the bot replaces a message's text: "message is not modified" counts as done, and a
message that was deleted (or is too old to edit) is replaced by a new one instead of an error."""
from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InaccessibleMessage, InlineKeyboardMarkup, Message, MaybeInaccessibleMessageUnion

log = logging.getLogger(__name__)

_GONE = ("message to edit not found", "message can't be edited", "there is no text in the message to edit",
         "message_id_invalid", "message not found")


async def safe_edit(bot: Bot, chat_id: int, message_id: int | None, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> int:
    """Edits the message, or sends a new one when it cannot be edited; returns the message id shown."""
    if message_id is not None:
        try:
            await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
            return message_id
        except TelegramBadRequest as exc:
            description = exc.message.lower()
            if "message is not modified" in description:
                return message_id
            if not any(marker in description for marker in _GONE):
                raise
    sent = await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
    return sent.message_id


async def show(bot: Bot, chat_id: int, origin: MaybeInaccessibleMessageUnion | None, text: str,
               markup: InlineKeyboardMarkup | None = None) -> int:
    """Shows a screen in place of the message a button was on (a new message for a typed command)."""
    if isinstance(origin, Message) and not isinstance(origin, InaccessibleMessage) and origin.from_user \
            and origin.from_user.is_bot and origin.text is not None:
        return await safe_edit(bot, chat_id, origin.message_id, text, markup)
    sent = await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
    return sent.message_id


async def safe_markup(bot: Bot, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None) -> None:
    """Replaces only a message's buttons (its text may belong to another process, e.g. the
    scheduler's progress message); an unchanged or vanished message is left as it is."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramBadRequest as exc:
        description = exc.message.lower()
        if "message is not modified" not in description and not any(marker in description for marker in _GONE):
            raise
