"""Revoke, expiry and reissue: what each does to the panel, idempotently and in any order."""
from __future__ import annotations

import pytest

from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation
from tests.vpn_gateway.support import InProcessGateway, buy, current, fetch, value, vpn_settings


async def enqueue(db, user_id: int, action: Activation, key: str, payload: dict | None = None) -> int:
    async with db.transaction() as conn:
        return await enqueue_activation(conn, user_id, action, key, payload)


async def expire_subscription(db, user_id: int) -> None:
    async with db.transaction() as conn:
        await conn.execute("UPDATE subscriptions SET expires_at = now() - interval '1 minute', status = 'expired', "
                           "updated_at = now() WHERE user_id = $1", user_id)


async def kinds(db, user_id: int) -> list[str]:
    return [r["kind"] for r in await fetch(db, "SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id", user_id)]


async def test_reissue_rotates_the_key_once(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2001, 30)
    await gw.settle()
    old = await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 2001")
    await enqueue(db, 2001, Activation.REISSUE, "reissue:2001:a")
    await gw.settle()
    new = await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 2001")
    assert new and new != old
    found = await current(gw.pool.get(server["name"]).backend, "atcs-2001", new)
    assert found.access_key == new
    assert standin.stats()["accounts"] == 1
    assert await kinds(db, 2001) == ["key_ready", "key_reissued"]


async def test_a_reissue_that_rotated_but_died_before_recording_is_not_rotated_twice(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2002, 30)
    await gw.settle()
    backend = gw.pool.get(server["name"]).backend
    # The first attempt's panel call went through; the process died before writing the result.
    rotated = await backend.reissue(await backend.find("atcs-2002"))
    before = standin.stats()["requests"]
    await enqueue(db, 2002, Activation.REISSUE, "reissue:2002:a")
    await gw.settle()
    stored = await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 2002")
    assert stored == (await backend.keep_key(rotated, stored)).access_key   # the rotated key, as printed now
    after = standin.stats()["requests"]
    for rotation in ("POST /api/users/{userId}/actions/revoke", "DELETE /access-keys/{id}",
                     "POST /api/user/{username}/revoke_sub", "POST /panel/api/clients/update/{email}"):
        assert after.get(rotation, 0) == before.get(rotation, 0)
    assert await kinds(db, 2002) == ["key_ready", "key_reissued"]


async def test_revoke_deletes_the_account_and_tells_the_user(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2003, 30)
    await gw.settle()
    async with db.transaction() as conn:
        await conn.execute("UPDATE subscriptions SET status = 'revoked', updated_at = now() WHERE user_id = 2003")
        await enqueue_activation(conn, 2003, Activation.REVOKE, "refund:2003", {"reason": "refund"})
    await gw.settle()
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = 2003"))[0]
    assert account["status"] == "revoked" and account["access_key"] is None and account["panel_id"] is None
    assert standin.stats()["accounts"] == 0
    assert await kinds(db, 2003) == ["key_ready", "access_revoked"]
    # Done twice (a replayed row with another key) it is a no-op, and says nothing again.
    await enqueue(db, 2003, Activation.REVOKE, "refund:2003:again")
    await gw.settle()
    assert await kinds(db, 2003) == ["key_ready", "access_revoked"]


async def test_a_revoke_older_than_a_later_grant_does_nothing(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server]))
    gateways.append(gw)
    await buy(db, 2004, 30)
    await enqueue(db, 2004, Activation.REVOKE, "old-revoke:2004")
    async with db.transaction() as conn:
        await conn.execute("UPDATE activations SET created_at = now() - interval '1 hour' "
                           "WHERE idempotency_key = 'old-revoke:2004'")
    gw.start()
    await gw.settle()
    assert standin.stats()["accounts"] == 1
    assert await value(db, "SELECT status FROM vpn_accounts WHERE user_id = 2004") == "active"


async def test_expiry_cuts_access_and_renewal_brings_it_back(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2005, 30)
    await gw.settle()
    await expire_subscription(db, 2005)
    await enqueue(db, 2005, Activation.EXPIRE, "expiry:2005:1")
    await gw.settle()
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = 2005"))[0]
    assert account["status"] == "revoked" and account["access_key"] is None
    backend = gw.pool.get(server["name"]).backend
    found = await backend.find("atcs-2005")
    if server["backend"] == "outline":
        assert found is None                  # no expiry in Outline: the key is deleted
    else:
        assert found is not None and not found.enabled   # Remnawave, Marzban, 3x-ui: switched off, kept
    await buy(db, 2005, 30)
    await gw.settle()
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = 2005"))[0]
    assert account["status"] == "active" and account["access_key"]
    found = await current(backend, "atcs-2005", account["access_key"])
    assert found is not None and found.enabled and found.access_key == account["access_key"]
    assert standin.stats()["accounts"] == 1
    # The key is shown again, as new: the old one had been taken away.
    assert await kinds(db, 2005) == ["key_ready", "key_ready"]


async def test_an_expiry_row_for_a_user_who_renewed_meanwhile_does_nothing(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2006, 30)
    await gw.settle()
    await enqueue(db, 2006, Activation.EXPIRE, "expiry:2006:stale")
    await gw.settle()
    assert await value(db, "SELECT status FROM vpn_accounts WHERE user_id = 2006") == "active"
    found = await gw.pool.get(server["name"]).backend.find("atcs-2006")
    assert found is not None and found.enabled


async def test_issue_for_a_user_without_subscription_does_nothing(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO users (id, referral_code) VALUES (2007, 'r2007')")
        await enqueue_activation(conn, 2007, Activation.ISSUE, "issue:2007")
    await gw.settle()
    assert standin.stats()["accounts"] == 0
    assert await kinds(db, 2007) == []


@pytest.mark.parametrize("panel", ["remnawave", "marzban", "xui"], indirect=True)
async def test_a_refund_that_shortens_the_subscription_shortens_the_panel_silently(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 2008, 30)
    await buy(db, 2008, 30)
    await gw.settle()
    async with db.transaction() as conn:     # as payments' refund does: days taken back, row queued
        await conn.execute("UPDATE subscriptions SET expires_at = expires_at - interval '30 days', "
                           "updated_at = now() WHERE user_id = 2008")
        await enqueue_activation(conn, 2008, Activation.EXTEND, "refund:1", {"reason": "refund"})
    await gw.settle()
    expires = await value(db, "SELECT expires_at FROM subscriptions WHERE user_id = 2008")
    found = await gw.pool.get(server["name"]).backend.find("atcs-2008")
    assert abs((found.expires_at - expires).total_seconds()) < 1
    assert await kinds(db, 2008) == ["key_ready", "subscription_extended"]
