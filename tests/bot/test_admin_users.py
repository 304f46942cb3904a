"""Item 5, one user: lookup by @username or id, grant days (one transaction, audited, the user
told, vpn_gateway nudged; a replayed tap grants nothing), ban / unban, reissue through
vpn_gateway, refund through payments (contract doubles)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.bot.admin_support import AdminPerson, seed_purchase
from tests.bot.chat import Person, buttons, forged_tap

USER = 8401


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def open_card(admin: AdminPerson, query: str) -> dict:
    home = await admin.console()
    await admin.press("👤 Users", home["message_id"], "Send a user's Telegram id")
    return await admin.say(query, expect="User 8401")


async def test_grant_days_once_with_notice_and_audit(bot, standin, db, vpn):
    await standin.user_message(USER, "/start", username="Carol_V", first_name="Carol")
    person = Person(standin, USER)
    await person.reply(0, "Main menu")
    admin = AdminPerson(standin)
    card = await open_card(admin, "@carol_v")              # case-insensitive
    assert "Subscription: none" in card["text"] and "@Carol_V Carol" in card["text"]
    plus7 = next(b for b in buttons(card) if b["text"] == "+7 d")
    after = await person.last_id()
    toast = await admin.toast("+7 d", message_id=card["message_id"])
    assert toast.startswith("Granted 7 days: valid until")
    await admin.wait_screen(card["message_id"], "active until")
    expires = await db.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", USER)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    await person.reply(after, "You have been given 7 extra days")
    await person.reply(after, "Your VPN is ready")          # vpn_gateway (double) issued the key
    assert "nudge" in vpn.calls

    # The same button again (a double tap, a replay): nothing more is granted.
    replay = await forged_tap(standin, admin.id, card["message_id"], plus7["callback_data"])
    assert (await admin.answer_of(replay))["answers"][0]["text"] == "Already done."
    assert await db.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", USER) == expires
    audit = await db.fetch("SELECT admin_id, action, target, detail->>'days' AS days FROM admin_audit")
    assert [tuple(r) for r in audit] == [(admin.id, "grant_days", f"user:{USER}", "7")]
    assert await db.fetchval("SELECT count(*) FROM activations WHERE idempotency_key LIKE 'admin_grant:%'") == 1

    # Another number of days, typed.
    await admin.press("✏️ Other number of days", card["message_id"], "How many days")
    assert "How many days" in (await admin.say("0"))["text"]
    reply = await admin.say("5", expect="Granted 5 days")
    assert reply["text"].startswith("Granted 5 days")
    later = await db.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", USER)
    assert abs(later - expires - timedelta(days=5)) < timedelta(seconds=5)


async def test_ban_unban_and_reissue(bot, standin, db, vpn):
    person = Person(standin, USER)
    await person.say("/trial", expect="free trial")
    await person.reply(0, "Your free trial is ready")
    admin = AdminPerson(standin)
    card = await open_card(admin, str(USER))
    assert "trial until" in card["text"] and "VPN key: active" in card["text"]

    assert await admin.toast("⛔ Ban", message_id=card["message_id"]) == "User banned."
    await admin.wait_screen(card["message_id"], "Banned")
    assert await db.fetchval("SELECT is_banned FROM users WHERE id = $1", USER) is True
    assert "suspended" in (await person.say("/subscription"))["text"]
    assert await admin.toast("✅ Unban", message_id=card["message_id"]) == "User unbanned."
    assert await db.fetchval("SELECT is_banned FROM users WHERE id = $1", USER) is False

    old_key = await db.fetchval("SELECT access_key FROM vpn_accounts WHERE user_id = $1", USER)
    after = await person.last_id()
    await admin.press("♻️ Reissue key", card["message_id"], "stops working")
    await admin.press("Yes, reissue", card["message_id"], "is being reissued")
    await person.reply(after, "Your key has been reissued")
    assert await db.fetchval("SELECT access_key FROM vpn_accounts WHERE user_id = $1", USER) != old_key
    assert "reissue" in vpn.calls
    assert await db.fetchval("""SELECT count(*) FROM activations
                                WHERE action = 'reissue' AND idempotency_key LIKE 'admin_reissue:8401:%'""") == 1
    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["ban", "unban", "reissue"]


async def test_refund_a_chosen_purchase(bot, standin, db, payments):
    await standin.user_message(USER, "/start", username="dora")
    person = Person(standin, USER)
    await person.reply(0, "Main menu")
    stars = await seed_purchase(db, USER, amount="150", currency="XTR", method="stars", paid_days_ago=2)
    fiat = await seed_purchase(db, USER, amount="3.00", currency="USD", method="cryptobot", paid_days_ago=1)
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("👤 Users", home["message_id"], "Send a user's Telegram id")
    card = await admin.say("/user @dora", expect="User 8401")
    listing = await admin.press("💳 Purchases and refunds", card["message_id"], "Purchases of user")
    assert f"#{stars}" in listing["text"] and f"#{fiat}" in listing["text"]
    assert [b["text"] for b in buttons(listing)][:2] == [f"↩️ Refund #{fiat}", f"↩️ Refund #{stars}"]
    after = await person.last_id()
    await admin.press(f"↩️ Refund #{stars}", card["message_id"], "Refund this purchase?")
    done = await admin.press("Yes, refund", card["message_id"], f"Purchase #{stars}: refunded")
    assert f"↩️ Refund #{stars}" not in [b["text"] for b in buttons(done)]
    (method, request), = payments.requests
    assert method == "refund" and request.purchase_id == stars and request.admin_id == admin.id
    assert await db.fetchval("SELECT status FROM purchases WHERE id = $1", stars) == "refunded"
    assert await db.fetchval("SELECT status FROM purchases WHERE id = $1", fiat) == "paid"
    await person.reply(after, "150 ⭐ has been refunded")
    assert await db.fetchval("SELECT action FROM admin_audit") == "refund"   # written by payments


async def test_lookup_of_unknown_user_and_admin_cannot_be_banned(bot, standin):
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("👤 Users", home["message_id"], "Send a user's Telegram id")
    assert "No user found for “@nobody”" in (await admin.say("@nobody"))["text"]
    card = await admin.say(str(admin.id), expect=f"User {admin.id}")
    toast = await admin.toast("⛔ Ban", message_id=card["message_id"])
    assert toast == "An admin cannot be banned."
