"""Item 7: the admin router is filtered once by ATCS_ADMIN_IDS, so nobody else reaches any admin
handler: /admin and every admin button, forged by a non-admin, change nothing and get only the
ordinary polite answers; every forged tap is still answered exactly once."""
from __future__ import annotations

import asyncpg
import pytest

from common.contract.scheduler import broadcast_callback
from services.bot.callbacks import (
    AdminBroadcastAction, AdminBroadcastCb, AdminBroadcastModeCb, AdminBulkAction, AdminBulkCb, AdminCb, AdminExportCb, AdminPromoAction,
    AdminPromoCb, AdminScreen, AdminUserAction, AdminUserCb,
)
from tests.bot.admin_support import seed_purchase, seed_subscription, seed_user, snapshot
from tests.bot.chat import Person, forged_tap
from tests.support.wait import wait_for

STALE = "This button is out of date. Open the menu again."
NOT_UNDERSTOOD = "I did not understand that."
TARGET = 8302


def every_admin_callback(purchase_id: int, promo_id: int = 1) -> list[str]:
    nonce = "AbCd1234"
    data = [AdminCb(to=screen).pack() for screen in AdminScreen]
    for action in AdminUserAction:
        arg = purchase_id if action in (AdminUserAction.REFUND, AdminUserAction.REFUND_OK) else 7
        data.append(AdminUserCb(action=action, user=TARGET, nonce=nonce, arg=arg).pack())
    data += [AdminBroadcastCb(action=action, nonce=nonce, audience="all").pack() for action in AdminBroadcastAction]
    data += [AdminBroadcastModeCb(nonce=nonce, paid=paid).pack() for paid in (False, True)]
    data += [AdminExportCb(kind=kind, nonce=nonce).pack() for kind in ("users", "subscriptions", "payments")]
    data += [AdminBulkCb(action=action, nonce=nonce, job=1).pack() for action in AdminBulkAction]
    data += [broadcast_callback(action, 1) for action in ("pause", "resume", "cancel")]
    data += [AdminPromoCb(action=action, nonce=nonce, code=promo_id, arg=1).pack() for action in AdminPromoAction]
    return data


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_non_admin_reaches_no_admin_handler(bot, standin, db, vpn, payments, scheduler):
    await seed_user(db, TARGET, username="target")
    await seed_subscription(db, TARGET)
    purchase_id = await seed_purchase(db, TARGET, amount="150", currency="XTR", method="stars")
    await db.execute("INSERT INTO promo_codes (code, kind, value, created_by) VALUES ('GUARDED', 'percent', 10, 1)")
    intruder = Person(standin, 8301)
    menu = await intruder.say("/start", expect="Main menu")

    # Commands: the ordinary "not understood" reply, nothing of the console.
    for command in ("/admin", "/user 8302", "/user @target"):
        reply = await intruder.say(command)
        assert reply["text"].startswith(NOT_UNDERSTOOD), reply["text"]
    before = await snapshot(db)
    transcript = await standin.transcript(intruder.id)

    forged = every_admin_callback(purchase_id)
    assert len(forged) >= 30
    taps = [await forged_tap(standin, intruder.id, menu["message_id"], data) for data in forged]

    async def all_answered() -> list[dict]:
        queries = {q["id"]: q for q in await standin.callback_queries()}
        found = [queries[t["callback_query_id"]] for t in taps]
        return found if all(q["answers"] for q in found) else []

    answered = await wait_for(all_answered, timeout=15, message="every forged tap answered")
    for data, query in zip(forged, answered, strict=True):
        assert query["answered"] == 1 and query["answer_attempts"] == 1, (data, query)
        assert query["answers"][0]["text"] == STALE, (data, query["answers"])
    assert await snapshot(db) == before
    assert await standin.transcript(intruder.id) == transcript      # no message sent or edited
    assert scheduler.requests == [] and payments.requests == [] and vpn.requests == []
    assert "reissue" not in vpn.calls and scheduler.calls == []
    assert await db.fetchval("SELECT count(*) FROM admin_audit") == 0


async def test_admin_command_is_listed_in_admin_chats_only(bot, standin):
    def published() -> dict:
        return standin.world.commands if len(standin.world.commands) >= 4 else {}

    commands = await wait_for(published, message="commands published")
    names = {key: [c["command"] for c in value] for key, value in commands.items()}
    admin_scope = '{"chat_id": 999001, "type": "chat"}|'
    assert "admin" in names[admin_scope] and "admin" in names[admin_scope + "ru"]
    assert "admin" not in names['{"type": "default"}|'] and "admin" not in names['{"type": "default"}|ru']
