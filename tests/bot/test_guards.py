"""The middlewares and guards, through the real dispatcher fed with feed_raw_update."""
from __future__ import annotations

import asyncio
import logging
import re

import asyncpg

from common.ipc import RpcError
from tests.bot.chat import buttons, forged_tap
from tests.support.ports import free_port


async def fsm_rows(database_url: str) -> list[tuple]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch("SELECT key, state, data::text FROM bot_fsm ORDER BY key")]
    finally:
        await conn.close()


async def test_tampered_and_foreign_callback_data_is_refused_without_change(make_inprocess, standin, database_url):
    bot = await make_inprocess(bot_settings={"bot_throttle_burst": 100})
    await bot.say(4001, "/buy")
    screen = (await standin.transcript(4001))[-1]
    plan = buttons(screen)[0]["callback_data"]
    flow = plan.split(":")[1]
    before_fsm = await fsm_rows(database_url)
    before_messages = await standin.transcript(4001)
    forged = [
        "p:notaflow",                 # does not parse
        "p:abc:notanumber",
        "pm:" + flow + ":paypal",     # no such payment method
        "zz:1",                       # no such prefix
        "p:someoneelse:1",            # another flow (someone else's, or an old one)
        f"p:{flow}:999999",           # a plan that does not exist
        "l:xx",                       # a language we do not have
        "r:guess:1",                  # a reissue confirmation never shown
        "x" * 64,
    ]
    taps = [await forged_tap(standin, 4001, screen["message_id"], data) for data in forged]
    await bot.feed_pending()
    assert await fsm_rows(database_url) == before_fsm
    assert await standin.transcript(4001) == before_messages
    answers = {q["id"]: q for q in await standin.callback_queries()}
    for tap in taps:
        query = answers[tap["callback_query_id"]]
        assert query["answered"] == 1, query
        assert query["answers"][0]["text"] in ("This button is out of date. Open the menu again.",
                                               "This plan is no longer available. Please choose another one.")


async def test_exception_boundary_shows_error_id_that_is_logged(make_inprocess, standin, caplog):
    class BrokenPeers:
        async def create_invoice(self, request, timeout=None):
            raise RuntimeError("internal detail the user must not see")

    bot = await make_inprocess(peers=BrokenPeers())
    await bot.say(4002, "/buy")
    screen = (await standin.transcript(4002))[-1]
    await bot.tap(4002, data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
    with caplog.at_level(logging.ERROR, logger="atcs.bot.errors"):
        tap = await bot.tap(4002, "⭐ Telegram Stars", message_id=screen["message_id"])
    query = next(q for q in await standin.callback_queries() if q["id"] == tap["callback_query_id"])
    assert query["answered"] == 1
    # The tap was answered before payments was asked, so the notice is a message, not a toast.
    texts = [m["text"] for m in await standin.transcript(4002)]
    shown = next(t for t in texts if t and "Error id" in t)
    error_id = re.search(r"Error id: ([0-9a-f]{8})", shown).group(1)
    assert "internal detail" not in shown and "Traceback" not in shown
    assert any(getattr(r, "error_id", None) == error_id for r in caplog.records)


async def test_throttle_one_notice_then_silence(make_inprocess, standin):
    bot = await make_inprocess(bot_settings={"bot_throttle_rate": 0.01, "bot_throttle_burst": 3})
    await standin.set_limits(chat_rate=100, chat_burst=100)
    for _ in range(8):
        await standin.user_message(4003, "/help")
    await bot.feed_pending()
    replies = [m["text"] for m in await standin.transcript(4003) if m["from"] == "bot"]
    assert len(replies) == 4, replies
    assert replies[3].startswith("You are going a bit fast")
    await standin.tap(4003, "⬅️ Main menu")
    await bot.feed_pending()
    queries = await standin.callback_queries()
    assert queries[-1]["answered"] == 1 and queries[-1]["answers"][0]["text"] is None  # silence, still answered


async def test_database_down_gives_degraded_notice(make_inprocess, standin):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    bot = await make_inprocess(database=dead)
    await bot.say(4004, "/start")
    assert "technical trouble" in (await standin.transcript(4004))[-1]["text"]
    # A button on an older message (sent before the outage) gets the notice as a toast.
    sent = await bot.bot.send_message(4004, "menu", reply_markup={"inline_keyboard": [[
        {"text": "Buy", "callback_data": "m:buy"}]]})
    tap = await bot.tap(4004, "Buy", message_id=sent.message_id)
    query = next(q for q in await standin.callback_queries() if q["id"] == tap["callback_query_id"])
    assert query["answered"] == 1 and "technical trouble" in query["answers"][0]["text"]


async def test_429_reply_is_sent_again_after_retry_after(make_inprocess, standin):
    bot = await make_inprocess()
    await standin.add_fault("sendMessage", status=429, retry_after=1, count=1)
    started = asyncio.get_running_loop().time()
    await bot.say(4005, "/start")
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert "Main menu" in (await standin.transcript(4005))[-1]["text"]
    statuses = [c["status"] for c in await standin.calls("sendMessage")]
    assert statuses == [429, 200]


async def test_banned_user_is_told_and_stopped(make_inprocess, standin, database_url):
    bot = await make_inprocess()
    await bot.say(4006, "/start")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET is_banned = true WHERE id = 4006")
    finally:
        await conn.close()
    await bot.say(4006, "/buy")
    assert "suspended" in (await standin.transcript(4006))[-1]["text"]
    tap = await bot.tap(4006, "🛒 Buy")
    query = next(q for q in await standin.callback_queries() if q["id"] == tap["callback_query_id"])
    assert query["answered"] == 1 and "suspended" in query["answers"][0]["text"]


async def test_blocking_the_bot_is_remembered(make_inprocess, standin, database_url):
    bot = await make_inprocess()
    await bot.say(4007, "/start")
    await standin.block(4007)
    await bot.feed_pending()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT blocked_bot FROM users WHERE id = 4007") is True
        await bot.say(4007, "/start")   # writing again means they unblocked us
        assert await conn.fetchval("SELECT blocked_bot FROM users WHERE id = 4007") is False
    finally:
        await conn.close()


async def test_rpc_errors_never_reach_the_user_raw(make_inprocess, standin):
    class DownPeers:
        async def create_invoice(self, request, timeout=None):
            raise RpcError("unknown_method", "payments has no method 'create_invoice'")

    bot = await make_inprocess(peers=DownPeers())
    await bot.say(4008, "/buy")
    screen = (await standin.transcript(4008))[-1]
    await bot.tap(4008, data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
    await bot.tap(4008, "⭐ Telegram Stars", message_id=screen["message_id"])
    text = (await standin.transcript(4008))[-1]["text"]
    assert text.startswith("We could not create an invoice") and "unknown_method" not in text


async def test_an_update_handled_again_keeps_the_screen_already_shown_live(make_inprocess, standin):
    """A poller killed after answering /buy but before marking it finished: its successor handles
    /buy again. The plan screen the user already has must keep working (the repeat draws the same
    flow nonce), not turn "out of date" under the user's finger."""
    from aiogram.types import Update

    from services.bot.telegram.handling import feed, workflow_of

    bot = await make_inprocess()
    await standin.user_message(4050, "/buy")
    [raw] = await standin.pending_updates()
    standin.world.confirm(raw["update_id"] + 1)
    for _ in range(2):   # the first handling, then the successor's
        update = Update.model_validate(raw, context={"bot": bot.bot})
        await feed(bot.dp, bot.bot, update, workflow_of(bot.dp, bot.bot))
    first, repeat = (await standin.transcript(4050))[-2:]
    assert first["text"] == repeat["text"] and "Choose a plan" in first["text"]
    assert buttons(first) == buttons(repeat)   # the same flow in both screens' buttons
    tap = await bot.tap(4050, data=buttons(first)[0]["callback_data"], message_id=first["message_id"])
    answers = {q["id"]: q for q in await standin.callback_queries()}
    assert answers[tap["callback_query_id"]]["answers"][0]["text"] is None   # continued, not "out of date"
    shown = {m["message_id"]: m["text"] for m in await standin.transcript(4050)}
    assert "How would you like to pay" in shown[first["message_id"]]


async def test_two_updates_draw_different_nonces_and_none_outside_an_update():
    from services.bot.callbacks import new_nonce, nonces_of_update

    with nonces_of_update("123:secret", 7):
        seven = [new_nonce(), new_nonce()]
    with nonces_of_update("123:secret", 7):
        again = [new_nonce(), new_nonce()]
    with nonces_of_update("123:secret", 8):
        eight = new_nonce()
    with nonces_of_update("456:other", 7):
        other_bot = new_nonce()
    assert seven == again and seven[0] != seven[1]
    assert eight not in seven and other_bot not in seven
    assert new_nonce() != new_nonce()   # random outside an update
