"""The Telegram stand-in speaks the Bot API: checked with aiogram's own client, not our code."""

from __future__ import annotations

import asyncio
import os
import struct
import time
import zlib

import aiohttp
import pytest
from aiogram import Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError, TelegramUnauthorizedError
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from tests.support.telegram_bot import loopback_bot

USER = 1001


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons]
    )


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- identity, auth, routing -------------------------------------------------------------------


async def test_get_me_describes_the_bot_named_by_the_token(bot):
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "atcs_test_bot")


async def test_wrong_token_is_unauthorized(standin):
    intruder = loopback_bot(standin, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()


async def test_unknown_method_is_404_in_the_envelope_and_method_names_ignore_case(standin):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{standin.url}/bot{standin.token}/sendTelepathy", json={}) as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{standin.url}/bot{standin.token}/GETME") as response:
            assert response.status == 200
            assert (await response.json())["result"]["id"] == 123456


# --- getUpdates --------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot, standin):
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    # Wait until the poll is inside the stand-in, so the update really arrives mid-poll.
    await standin.world.wakeup.wait_for(
        lambda: True if any(c.method == "getUpdates" for c in standin.world.calls) else None, 2
    )
    assert not poll.done()
    started = time.monotonic()
    await standin.user_message(USER, "hello")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.0
    assert [u.message.text for u in updates] == ["hello"]
    assert updates[0].message.chat.id == USER and updates[0].message.from_user.id == USER


async def test_long_poll_without_updates_waits_out_its_timeout(bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_offset_confirms_and_forgets_earlier_updates(bot, standin):
    for text in ("one", "two", "three"):
        await standin.user_message(USER, text)
    updates = await bot.get_updates()
    ids = [u.update_id for u in updates]
    assert [u.message.text for u in updates] == ["one", "two", "three"]
    assert ids == sorted(ids) and len(set(ids)) == 3

    # Unconfirmed updates are delivered again.
    assert [u.update_id for u in await bot.get_updates()] == ids
    # An offset confirms everything before it, permanently.
    assert [u.message.text for u in await bot.get_updates(offset=ids[1])] == ["two", "three"]
    assert [u.message.text for u in await bot.get_updates()] == ["two", "three"]
    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert await standin.pending_updates() == []


async def test_limit_and_negative_offset(bot, standin):
    for text in ("a", "b", "c", "d"):
        await standin.user_message(USER, text)
    assert [u.message.text for u in await bot.get_updates(limit=2)] == ["a", "b"]
    # A negative offset keeps only the last -offset updates.
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["d"]
    assert [u.message.text for u in await bot.get_updates()] == ["d"]


async def test_allowed_updates_stops_other_kinds_being_created(bot, standin):
    await bot.get_updates(allowed_updates=["message"])
    await standin.block(USER)  # would be a my_chat_member update
    await standin.user_message(USER, "only this")  # also unblocks: another my_chat_member
    updates = await bot.get_updates()
    assert [(u.message.text if u.message else "other") for u in updates] == ["only this"]
    # An empty list restores Telegram's default set.
    await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=[])
    await standin.block(USER)
    assert [u.my_chat_member.new_chat_member.status for u in await bot.get_updates()] == ["kicked"]


async def test_a_second_poller_ends_the_first_with_conflict(bot, standin):
    other = loopback_bot(standin)
    try:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await standin.world.wakeup.wait_for(lambda: True if standin.world.poll_generation else None, 2)
        assert await other.get_updates(timeout=0) == []
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 2)
    finally:
        await other.session.close()


async def test_webhook_info_and_delete_webhook_dropping_pending_updates(bot, standin):
    await standin.user_message(USER, "pending")
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 1)
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert (await bot.get_webhook_info()).pending_update_count == 0
    assert await bot.get_updates() == []


# --- messages ----------------------------------------------------------------------------------


async def test_send_message_with_keyboard_is_seen_by_the_user_and_tap_reaches_the_bot(bot, standin):
    sent = await bot.send_message(USER, "Pick a plan", reply_markup=keyboard(("Month", "plan:30"), ("Year", "plan:365")))
    assert sent.chat.id == USER and sent.from_user.id == 123456 and sent.text == "Pick a plan"
    assert sent.reply_markup.inline_keyboard[1][0].callback_data == "plan:365"

    [entry] = await standin.transcript(USER)
    assert entry["from"] == "bot" and entry["message_id"] == sent.message_id
    assert entry["reply_markup"]["inline_keyboard"][0][0] == {"text": "Month", "callback_data": "plan:30"}

    tapped = await standin.tap(USER, "Year")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert (query.id, query.data, query.from_user.id) == (tapped["callback_query_id"], "plan:365", USER)
    assert query.message.message_id == sent.message_id and query.chat_instance

    assert await bot.answer_callback_query(query.id, text="Saved") is True
    [record] = await standin.callback_queries()
    assert (record["answered"], record["answer_attempts"], record["answered_within_window"]) == (1, 1, True)
    assert record["answers"][0]["text"] == "Saved"


async def test_tap_by_data_and_on_a_missing_button(bot, standin):
    from sandbox.telegram import ControlError

    await bot.send_message(USER, "menu", reply_markup=keyboard(("Help", "help")))
    assert (await standin.tap(USER, data="help"))["callback_query_id"]
    with pytest.raises(ControlError, match="no inline button"):
        await standin.tap(USER, "Nope")


async def test_tapping_a_reply_keyboard_button_sends_its_label(bot, standin):
    from sandbox.telegram import ControlError

    menu = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="My keys"), KeyboardButton(text="Buy")]])
    sent = await bot.send_message(USER, "Main menu", reply_markup=menu)
    assert sent.reply_markup is None  # Message.reply_markup only ever shows inline keyboards
    tapped = await standin.tap(USER, "My keys")
    assert tapped["kind"] == "message" and tapped["callback_query_id"] is None
    [update] = await bot.get_updates()
    assert update.message.text == "My keys" and update.message.from_user.id == USER
    await bot.send_message(USER, "closed", reply_markup=ReplyKeyboardRemove())
    with pytest.raises(ControlError):
        await standin.tap(USER, "Buy")


async def test_callback_query_can_be_answered_only_once(bot, standin):
    await bot.send_message(USER, "menu", reply_markup=keyboard(("Go", "go")))
    query_id = (await standin.tap(USER, "Go"))["callback_query_id"]
    assert await bot.answer_callback_query(query_id) is True
    with pytest.raises(TelegramBadRequest, match="query is too old and response timeout expired"):
        await bot.answer_callback_query(query_id)
    [record] = await standin.callback_queries()
    assert (record["answered"], record["answer_attempts"]) == (1, 2)


async def test_callback_answer_after_the_window_is_refused(bot, standin):
    await standin.set_limits(callback_answer_window=1e-6)
    await bot.send_message(USER, "menu", reply_markup=keyboard(("Go", "go")))
    query_id = (await standin.tap(USER, "Go"))["callback_query_id"]
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    [record] = await standin.callback_queries()
    assert (record["answered"], record["answered_within_window"]) == (0, False)


async def test_unknown_callback_query_id_is_refused(bot):
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")


async def test_html_parse_mode_yields_plain_text_and_entities_and_refuses_bad_markup(bot, standin):
    sent = await bot.send_message(USER, "<b>Plan</b> &lt;Pro&gt; <a href='https://x.test'>terms</a>", parse_mode="HTML")
    assert sent.text == "Plan <Pro> terms"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 4), ("text_link", 11, 5)]
    assert sent.entities[1].url == "https://x.test"
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end tag"):
        await bot.send_message(USER, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "div"'):
        await bot.send_message(USER, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "Bob <bob@example.com>", parse_mode="HTML")


async def test_text_length_limits(bot):
    assert len((await bot.send_message(USER, "x" * 4096)).text) == 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    # The limit counts UTF-16 code units: each of these emoji is two.
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "\U0001f600" * 2049)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "   ")


async def test_callback_data_is_limited_to_64_bytes(bot):
    assert await bot.send_message(USER, "ok", reply_markup=keyboard(("A", "a" * 64)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "no", reply_markup=keyboard(("A", "a" * 65)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "no", reply_markup=keyboard(("A", "я" * 33)))  # 66 bytes


async def test_edit_text_and_not_modified(bot, standin):
    sent = await bot.send_message(USER, "v1", reply_markup=keyboard(("Go", "go")))
    edited = await bot.edit_message_text("v2", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("Go", "go")))
    assert edited.text == "v2" and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("v2", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("Go", "go")))
    # Leaving reply_markup out of an edit removes the keyboard, as on Telegram.
    await bot.edit_message_text("v2", chat_id=USER, message_id=sent.message_id)
    [entry] = await standin.transcript(USER)
    assert (entry["text"], entry["reply_markup"], entry["edited"]) == ("v2", None, 2)


async def test_edit_reply_markup_and_its_not_modified(bot, standin):
    sent = await bot.send_message(USER, "menu", reply_markup=keyboard(("A", "a")))
    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("B", "b")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("B", "b")))
    [entry] = await standin.transcript(USER)
    assert entry["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"


async def test_edit_of_a_missing_message_is_refused(bot):
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=777)


async def test_delete_message(bot, standin):
    sent = await bot.send_message(USER, "bye")
    assert await bot.delete_message(USER, sent.message_id) is True
    [entry] = await standin.transcript(USER)
    assert entry["deleted"] is True and entry["text"] == "bye"
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id)


# --- files -------------------------------------------------------------------------------------


async def test_document_upload_keeps_bytes_and_filename(bot, standin):
    payload = os.urandom(200_000)
    sent = await bot.send_document(USER, BufferedInputFile(payload, filename="users 2024/Q1.csv"), caption="export")
    assert sent.document.file_name == "users 2024/Q1.csv" and sent.document.file_size == len(payload)
    assert sent.caption == "export"
    assert await standin.file_bytes(sent.document.file_id) == payload
    [entry] = await standin.transcript(USER)
    assert entry["document"]["filename"] == "users 2024/Q1.csv" and entry["document"]["size"] == len(payload)

    # getFile + download through the /file/ route, as aiogram does it.
    downloaded = await bot.download(sent.document.file_id)
    assert downloaded.read() == payload

    # A file_id can be sent again without re-uploading.
    again = await bot.send_document(USER + 1, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id


async def test_photo_upload_reports_dimensions_and_refuses_non_images(bot, standin):
    sent = await bot.send_photo(USER, BufferedInputFile(png(3, 2), filename="qr.png"))
    [size] = sent.photo
    assert (size.width, size.height) == (3, 2)
    assert await standin.file_bytes(size.file_id) == png(3, 2)
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", filename="x.png"))


# --- commands ----------------------------------------------------------------------------------


async def test_set_and_get_my_commands_per_scope_and_language(bot):
    commands = [BotCommand(command="start", description="Start"), BotCommand(command="buy", description="Buy")]
    assert await bot.set_my_commands(commands) is True
    assert await bot.set_my_commands([BotCommand(command="admin", description="Admin")], scope=BotCommandScopeChat(chat_id=USER))
    assert await bot.set_my_commands([BotCommand(command="start", description="Старт")], language_code="ru")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "buy"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=USER))] == ["admin"]
    assert (await bot.get_my_commands(language_code="ru"))[0].description == "Старт"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


# --- a real aiogram bot ------------------------------------------------------------------------


async def test_aiogram_dispatcher_runs_against_the_stand_in(bot, standin):
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(f"Hello, {message.from_user.first_name}", reply_markup=keyboard(("Trial", "trial")))

    @router.callback_query(F.data == "trial")
    async def trial(query: CallbackQuery) -> None:
        await query.answer("Activated")
        await query.message.edit_text("Trial is on")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5))
    try:
        update = await standin.user_message(USER, "/start", first_name="Ann")
        greeting = await standin.wait_for_message(USER, lambda m: m["text"] == "Hello, Ann", after=update["message"]["message_id"])
        await standin.tap(USER, "Trial")
        edited = await standin.wait_for_message(USER, lambda m: m["text"] == "Trial is on")
        assert edited["message_id"] == greeting["message_id"]
        await standin.world.wakeup.wait_for(
            lambda: True if any(c["answered"] for c in [r.summary() for r in standin.world.callbacks.values()]) else None, 5
        )
        [record] = await standin.callback_queries()
        assert record["answered"] == 1 and record["answers"][0]["text"] == "Activated"
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, 5)
    methods = {c["method"] for c in await standin.calls()}
    assert {"getMe", "getUpdates", "sendMessage", "answerCallbackQuery", "editMessageText"} <= methods
