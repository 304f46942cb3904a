"""Pausing a subscription (issue 13.4) as the panel sees it: the account is switched off while
paused, and the unfreeze gives back exactly the time that was left, to the second by the
stand-in's clock (the clock the freeze and the unfreeze are measured with)."""
from __future__ import annotations

from datetime import timedelta

import orjson

from common.db.database import Database
from common.shop.freeze import Freeze, freeze, unfreeze
from services.vpn_gateway.panels.remnawave import parse_time
from tests.support.http import client_session
from tests.vpn_gateway.support import InProcessGateway, buy, fetch, remnawave_user, value, vpn_settings, xui_server

DAY = 86_400


async def pause(db: Database, user_id: int, days: int, now) -> Freeze:
    async with db.transaction() as conn:
        frozen = await freeze(conn, user_id, days, now=now, days_per_year=30)
    assert isinstance(frozen, Freeze), frozen
    return frozen


async def resume(db: Database, user_id: int, now):
    async with db.transaction() as conn:
        return await unfreeze(conn, user_id, now=now, by="user")


async def notices(db: Database, user_id: int) -> list[tuple[str, dict]]:
    rows = await fetch(db, "SELECT kind, params FROM notifications WHERE user_id = $1 ORDER BY id", user_id)
    return [(r["kind"], orjson.loads(r["params"])) for r in rows]


async def test_remnawave_freeze_then_unfreeze_returns_exactly_the_time_left(db, remnawave, remnawave_gateway) -> None:
    await buy(db, 8601, key="purchase:8601:1", plan="month_1")
    await remnawave_gateway.settle()
    before = remnawave_user(remnawave, "atcs-8601")

    frozen_at = remnawave.clock.now()
    frozen = await pause(db, 8601, 10, frozen_at)
    await remnawave_gateway.settle()
    during = remnawave_user(remnawave, "atcs-8601")
    assert during["status"] == "DISABLED" and during["expireAt"] == before["expireAt"]
    async with client_session() as http:
        async with http.get(before["subscriptionUrl"], headers={"x-hwid": "hwid-phone"}) as response:
            assert response.status == 403                          # the key does not work while paused

    remnawave.advance_time(3 * DAY + 1234.5)                       # 3 days and a bit of pause
    thawed_at = remnawave.clock.now()
    thawed = await resume(db, 8601, thawed_at)
    assert thawed is not None and thawed.paused == thawed_at - frozen_at
    await remnawave_gateway.settle()

    expires = await value(db, "SELECT expires_at FROM subscriptions WHERE user_id = 8601")
    assert expires - thawed_at == frozen.left                      # to the microsecond in the database
    after = remnawave_user(remnawave, "atcs-8601")
    # ...and to the panel's millisecond on the panel, by its own clock.
    assert abs(parse_time(after["expireAt"]) - thawed_at - frozen.left) < timedelta(milliseconds=1)
    assert after["status"] == "ACTIVE" and after["subscriptionUrl"] == before["subscriptionUrl"]
    async with client_session() as http:
        # (an app sends its HWID: the plan limits devices)
        async with http.get(after["subscriptionUrl"], headers={"x-hwid": "hwid-phone"}) as response:
            assert response.status == 200                          # the same key works again
    kinds = [kind for kind, _ in await notices(db, 8601)]
    assert kinds == ["key_ready", "key_ready"]                     # the key again, with its new end
    assert (await notices(db, 8601))[-1][1]["expires_at"] == expires.isoformat()


async def test_xui_freeze_switches_the_client_off_and_unfreeze_back_on_with_the_time_left(db, gateways, xui) -> None:
    gw = InProcessGateway(db, vpn_settings([xui_server(xui)])).start()
    gateways.append(gw)
    await buy(db, 8602, key="purchase:8602:1", plan="month_1")
    await gw.settle()
    link = xui.client("atcs-8602")
    frozen_at = xui.clock.now()
    frozen = await pause(db, 8602, 7, frozen_at)
    await gw.settle()
    assert xui.client("atcs-8602")["enable"] is False
    xui.advance_time(2 * DAY + 17.25)
    thawed_at = xui.clock.now()
    await resume(db, 8602, thawed_at)
    await gw.settle()
    client = xui.client("atcs-8602")
    assert client["enable"] is True and client["uuid"] == link["uuid"]
    assert abs(client["expiryTime"] - (thawed_at + frozen.left).timestamp() * 1000) < 1


async def test_days_bought_while_paused_are_kept_for_after_the_pause(db, remnawave, remnawave_gateway) -> None:
    await buy(db, 8603, key="purchase:8603:1", plan="month_1")
    await remnawave_gateway.settle()
    frozen = await pause(db, 8603, 5, remnawave.clock.now())
    await remnawave_gateway.settle()
    await buy(db, 8603, key="purchase:8603:2", plan="month_1")         # a renewal paid during the pause
    await remnawave_gateway.settle()
    assert remnawave_user(remnawave, "atcs-8603")["status"] == "DISABLED"   # still paused on the panel
    remnawave.advance_time(DAY)
    thawed_at = remnawave.clock.now()
    await resume(db, 8603, thawed_at)
    await remnawave_gateway.settle()
    expires = await value(db, "SELECT expires_at FROM subscriptions WHERE user_id = 8603")
    assert expires - thawed_at == frozen.left + timedelta(days=30)
    assert remnawave_user(remnawave, "atcs-8603")["status"] == "ACTIVE"
