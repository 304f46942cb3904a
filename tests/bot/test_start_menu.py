"""/start, the menu, languages and referral links, through the bot's real polling."""
from __future__ import annotations

import asyncpg

from tests.bot.chat import Person, labels


async def test_start_shows_menu_in_telegram_language(bot, standin, database_url):
    ru = Person(standin, 1001, language="ru", first_name="Иван <b>")
    reply = await ru.say("/start")
    assert "Главное меню" in reply["text"] and "Иван <b>" in reply["text"]
    assert "🛒 Купить" in labels(reply)
    en = Person(standin, 1002, language="de")
    reply = await en.say("/start")
    assert "Main menu" in reply["text"] and "🛒 Buy" in labels(reply)
    conn = await asyncpg.connect(database_url)
    try:
        rows = {r["id"]: r["language"] for r in await conn.fetch("SELECT id, language FROM users")}
    finally:
        await conn.close()
    assert rows == {1001: "ru", 1002: "en"}


async def test_language_switch_is_kept(bot, standin):
    person = Person(standin, 1003, language="en")
    menu = await person.say("/start")
    tap = await person.tap("🌐 Language", message_id=menu["message_id"])
    await person.wait_screen(menu["message_id"], "Choose your language")
    tap = await person.tap("🇷🇺 Русский", message_id=menu["message_id"])
    assert (await person.answer_of(tap))["answers"][0]["text"] == "Язык: русский"
    await person.wait_screen(menu["message_id"], "Главное меню")
    reply = await person.say("/help")
    assert "Поддержка" in reply["text"]


async def test_referral_link_attaches_new_user_once(bot, standin, database_url):
    inviter = Person(standin, 1010)
    await inviter.say("/start")
    await inviter.say("/referrals", expect="Referrals")
    conn = await asyncpg.connect(database_url)
    try:
        code = await conn.fetchval("SELECT referral_code FROM users WHERE id = 1010")
        ref_text = (await standin.transcript(1010))[-1]["text"]
        assert f"https://t.me/atcs_test_bot?start=ref_{code}" in ref_text
        invitee = Person(standin, 1011)
        await invitee.say(f"/start ref_{code}")
        assert await conn.fetchval("SELECT referred_by FROM users WHERE id = 1011") == 1010
        # An existing user cannot be claimed by a link later, nor refer themselves.
        late = Person(standin, 1012)
        await late.say("/start")
        await late.say(f"/start ref_{code}")
        assert await conn.fetchval("SELECT referred_by FROM users WHERE id = 1012") is None
        selfish = await conn.fetchval("SELECT referral_code FROM users WHERE id = 1012")
        await late.say(f"/start ref_{selfish}")
        assert await conn.fetchval("SELECT referred_by FROM users WHERE id = 1012") is None
        reply = await inviter.say("/referrals", expect="Referrals")
        assert "Invited: 1" in reply["text"]
    finally:
        await conn.close()


async def test_menu_navigation_edits_in_place(bot, standin):
    person = Person(standin, 1020)
    menu = await person.say("/start")
    for label, expect in (("❓ Help & support", "Support: @support"), ("⬅️ Main menu", "Main menu"),
                          ("💰 Balance", "Balance:"), ("⬅️ Main menu", "Main menu"),
                          ("🔑 My subscription", "no subscription yet")):
        await person.tap(label, message_id=menu["message_id"])
        await person.wait_screen(menu["message_id"], expect)
    transcript = await standin.transcript(1020)
    assert len([m for m in transcript if m["from"] == "bot"]) == 1  # every screen replaced the menu


async def test_shutdown_does_not_wait_on_a_hanging_telegram(start_bot, standin):
    service = await start_bot()
    person = Person(standin, 1030)
    await person.say("/start")
    await standin.add_fault("*", latency=30)   # every Bot API call now hangs
    await standin.user_message(1030, "/help")    # a handler stuck on sendMessage, and a long poll
    import time

    from tests.support.wait import wait_for

    async def handler_stuck() -> bool:
        return len(await standin.calls("sendMessage")) == 2   # the reply to /help, hanging
    await wait_for(handler_stuck, timeout=5)
    started = time.monotonic()
    await service.stop()
    assert time.monotonic() - started < 4.0   # the drain grace, not Telegram's 30 s
    await standin.clear_faults()


async def test_without_token_the_bot_stays_up_not_ready(start_bot, bot_env):
    import pytest
    from services.bot.settings import Settings
    from services.bot.app import setup
    from tests.bot.conftest import ServiceInProcess

    with pytest.MonkeyPatch.context() as patch:
        for key, value in bot_env.items():
            patch.setenv(key, value)
        patch.delenv("ATCS_BOT_TOKEN")
        service = ServiceInProcess("bot", Settings.read(), setup)
        await service.start()
    try:
        ok, reasons = await service.ctx.readiness()
        assert not ok and "ATCS_BOT_TOKEN is not set" in reasons["telegram"]
    finally:
        await service.stop()
