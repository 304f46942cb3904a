"""What is particular to the 3x-ui backend: its login session (expired: log in again, once),
the client's email as the idempotency key, the share link as the key and its rotation."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from sandbox.panels.xui import XuiStandIn
from services.vpn_gateway.panels.breaker import CircuitBreaker
from services.vpn_gateway.panels.base import AccessSpec, PanelRejected
from services.vpn_gateway.panels.registry import build_backend
from services.vpn_gateway.settings import VpnServer
from tests.vpn_gateway.support import GB, InProcessGateway, buy, value, vpn_settings, xui_server
from tests.support.http import client_session


def backend_for(standin: XuiStandIn, **extra):
    return build_backend(VpnServer.model_validate(xui_server(standin, **extra)), CircuitBreaker())


def spec(days: int = 30, gb: int = 0) -> AccessSpec:
    return AccessSpec(datetime.now(timezone.utc) + timedelta(days=days), gb * GB)


async def test_an_expired_session_is_logged_in_again_once(xui: XuiStandIn) -> None:
    backend = backend_for(xui)
    try:
        made = await backend.create("atcs-1", spec())
        assert xui.stats()["requests"]["POST /login"] == 1
        for _ in range(3):
            xui.expire_sessions()                   # the panel restarted, or the session timed out
            found = await backend.find("atcs-1")
            assert found is not None and found.access_key == made.access_key
        requests = xui.stats()["requests"]
        assert requests["POST /login"] == 4 and requests["GET /csrf-token"] == 4
        # Each expiry cost one refused call (the panel's 404) and one retry, no more.
        assert requests["GET /panel/api/clients/get/{email}"] == 3 * 2
        # A session that ages out on the panel's clock is the same thing.
        xui.advance_time(xui.session_ttl + 1)
        assert (await backend.update(found, traffic_limit_bytes=5 * GB)).traffic_limit_bytes == 5 * GB
        assert xui.client("atcs-1")["totalGB"] == 5 * GB
    finally:
        await backend.close()


async def test_a_lost_csrf_token_is_a_new_login_too(xui: XuiStandIn) -> None:
    backend = backend_for(xui)
    try:
        account = await backend.create("atcs-2", spec())
        for session in xui._api.sessions.values():
            session.csrf = "rotated-elsewhere"     # the POST gets 403
        await backend.update(account, enabled=False)
        assert xui.client("atcs-2")["enable"] is False
        assert xui.stats()["requests"]["POST /login"] == 2
    finally:
        await backend.close()


async def test_a_wrong_password_is_refused_without_a_login_loop(xui: XuiStandIn) -> None:
    backend = backend_for(xui, admin_password="not-the-password")
    try:
        with pytest.raises(PanelRejected) as caught:
            await backend.find("atcs-3")
        assert "login refused" in str(caught.value) and "not-the-password" not in str(caught.value)
        health = await backend.health()
        assert not health.ok and "login refused" in health.detail
        assert xui.stats()["requests"]["POST /login"] == 2 and xui.stats()["requests"].get("GET /csrf-token") is None
    finally:
        await backend.close()


async def test_health_names_a_missing_inbound(xui: XuiStandIn) -> None:
    backend = backend_for(xui, inbound_id=99)
    try:
        assert not (await backend.health()).ok
    finally:
        await backend.close()
    good = backend_for(xui)
    try:
        await good.create("atcs-4", spec())
        health = await good.health()
        assert health.ok and health.accounts == 1
    finally:
        await good.close()


async def test_reissue_gives_a_new_link_and_the_old_one_stops_working(xui: XuiStandIn) -> None:
    backend = backend_for(xui)
    try:
        before = await backend.create("atcs-5", spec())
        old_uuid, old_sub = xui.client("atcs-5")["uuid"], xui.client("atcs-5")["subId"]
        after = await backend.reissue(before)
        record = xui.client("atcs-5")
        assert after.access_key != before.access_key and after.access_key.startswith("vless://")
        assert record["uuid"] != old_uuid and record["uuid"] in after.access_key and old_uuid not in after.access_key
        assert record["subId"] != old_sub
        # Everything else is as it was: the update sent the whole client back.
        assert after.expires_at == before.expires_at and record["enable"] is True
        async with client_session() as http:
            async with http.get(f"{xui.url}/sub/{old_sub}") as response:
                assert response.status == 404
            async with http.get(f"{xui.url}/sub/{record['subId']}") as response:
                assert base64.b64decode(await response.text()).decode() == after.access_key
    finally:
        await backend.close()


async def test_reissue_on_a_trojan_inbound_rotates_the_password(xui: XuiStandIn) -> None:
    xui.add_inbound(7, protocol="trojan")
    backend = backend_for(xui, inbound_id=7)
    try:
        before = await backend.create("atcs-6", spec())
        assert before.access_key.startswith("trojan://")
        after = await backend.reissue(before)
        assert after.access_key != before.access_key and after.access_key.startswith("trojan://")
    finally:
        await backend.close()


async def test_usage_is_up_plus_down_and_renewal_extends_from_the_panels_expiry(db, gateways, xui) -> None:
    gw = InProcessGateway(db, vpn_settings([xui_server(xui)])).start()
    gateways.append(gw)
    await buy(db, 7201, 30, traffic_gb=50)
    await gw.settle()
    first = xui.client("atcs-7201")["expiryTime"]
    xui.add_traffic("atcs-7201", 2 * GB)
    assert (await gw.usage.get(7201)).used_bytes == 2 * GB
    await buy(db, 7201, 30, traffic_gb=50)
    await gw.settle()
    second = xui.client("atcs-7201")["expiryTime"]
    assert abs(second - first - 30 * 86_400_000) < 1000       # 30 more days on top, not 30 from now
    expires = await value(db, "SELECT expires_at FROM subscriptions WHERE user_id = 7201")
    assert abs(second - expires.timestamp() * 1000) < 1000
    assert xui.client("atcs-7201")["totalGB"] == 50 * GB and xui.stats()["accounts"] == 1


async def test_a_client_the_panel_switched_off_at_expiry_is_switched_on_by_renewal(db, gateways, xui) -> None:
    gw = InProcessGateway(db, vpn_settings([xui_server(xui)])).start()
    gateways.append(gw)
    await buy(db, 7202, 1)
    await gw.settle()
    key = await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 7202")
    xui.advance_time(2 * 86_400)                 # the panel's clock passes the expiry: it disables
    assert xui.client("atcs-7202")["enable"] is False
    await buy(db, 7202, 30)
    await gw.settle()
    record = xui.client("atcs-7202")
    assert record["enable"] is True and record["expiryTime"] > xui.clients.now_ms()
    assert await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 7202") == key


async def test_a_vision_flow_reaches_the_client_and_its_link(xui: XuiStandIn) -> None:
    """A VLESS Reality inbound wants its clients on xtls-rprx-vision; the server's `flow` gives it to every
    new client, and the link the user imports carries it."""
    backend = backend_for(xui, flow="xtls-rprx-vision")
    try:
        made = await backend.create("atcs-7", spec())
        assert xui.client("atcs-7")["flow"] == "xtls-rprx-vision"
        assert "flow=xtls-rprx-vision" in made.access_key
        rotated = await backend.reissue(made)
        assert xui.client("atcs-7")["flow"] == "xtls-rprx-vision" and rotated.access_key != made.access_key
    finally:
        await backend.close()
    plain = backend_for(xui)
    try:
        await plain.create("atcs-8", spec())
        assert xui.client("atcs-8")["flow"] == ""
    finally:
        await plain.close()


def test_flow_is_one_of_the_panels_values() -> None:
    with pytest.raises(ValueError):
        VpnServer.model_validate({"name": "x", "backend": "3x-ui", "api_url": "http://panel", "admin_username": "a",
                                  "admin_password": "b", "inbound_id": 1, "flow": "xtls-rprx-direct"})
