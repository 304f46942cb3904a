"""What is Marzban's own in its backend: the admin login and its expiry, usernames derived from
our external id, the subscription URL as the key (made absolute, rotated by revoke_sub, and
recognised when the panel prints it anew)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from services.vpn_gateway.settings import VpnServer
from sandbox.panels.marzban import MarzbanStandIn
from services.vpn_gateway.panels.breaker import CircuitBreaker
from services.vpn_gateway.panels.base import AccessSpec, PanelRejected
from services.vpn_gateway.panels.marzban import MarzbanBackend, subscription_owner, username_for
from services.vpn_gateway.panels.registry import build_backend
from tests.vpn_gateway.support import GB, MARZBAN_PASSWORD, marzban_server
from tests.support.http import client_session

SPEC = AccessSpec(datetime(2031, 1, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc), 5 * GB)


@pytest.fixture
async def backend(marzban: MarzbanStandIn):
    made = build_backend(VpnServer.model_validate(marzban_server(marzban)), CircuitBreaker())
    assert isinstance(made, MarzbanBackend)
    yield made
    await made.close()


def test_usernames_are_derived_from_the_external_id() -> None:
    assert username_for("atcs-1001") == "atcs_1001"
    assert username_for("atcs-1001") == username_for("atcs-1001")
    for bad in ("ATCS-1", "a-", "atcs-" + "9" * 40, "atcs.1"):
        with pytest.raises(PanelRejected):
            username_for(bad)


async def test_create_find_update_and_expiry_in_whole_seconds(backend, marzban) -> None:
    made = await backend.create("atcs-501", SPEC)
    assert (made.panel_id, made.external_id) == ("atcs_501", "atcs-501")
    assert made.expires_at == datetime(2031, 1, 1, 12, 0, 1, tzinfo=timezone.utc)     # rounded up, never less
    assert made.traffic_limit_bytes == 5 * GB and made.enabled
    assert made.access_key.startswith(f"{marzban.url}/sub/")      # the panel prints it relative
    assert subscription_owner(made.access_key) == "atcs_501"
    assert marzban.user("atcs_501")["proxies"].keys() == {"vless"}
    later = SPEC.expires_at + timedelta(days=30)
    changed = await backend.update(made, expires_at=later, traffic_limit_bytes=0, enabled=False)
    assert changed.expires_at == datetime(2031, 1, 31, 12, 0, 1, tzinfo=timezone.utc)
    assert (changed.traffic_limit_bytes, changed.enabled) == (0, False)
    assert (await backend.find("atcs-501")).enabled is False
    assert await backend.find("atcs-502") is None


async def test_reissue_rotates_the_subscription_url(backend, marzban) -> None:
    made = await backend.create("atcs-503", SPEC)
    marzban.advance_time(1)                                     # a read a second later
    again = await backend.find("atcs-503")
    assert again.access_key != made.access_key                 # printed anew on every read...
    assert (await backend.keep_key(again, made.access_key)).access_key == made.access_key   # ...still valid
    rotated = await backend.reissue(again)
    assert subscription_owner(rotated.access_key) == "atcs_503"
    async with client_session() as http:
        async with http.get(made.access_key + "/info") as response:
            assert response.status == 404                       # the old URL is refused
        async with http.get(rotated.access_key + "/") as response:
            assert response.status == 200
    current = await backend.find("atcs-503")
    assert (await backend.keep_key(current, made.access_key)).access_key != made.access_key
    assert (await backend.keep_key(current, rotated.access_key)).access_key == rotated.access_key
    assert (await backend.keep_key(current, None)).access_key == current.access_key


async def test_usage_is_the_users_used_traffic(backend, marzban) -> None:
    made = await backend.create("atcs-504", SPEC)
    marzban.add_traffic("atcs_504", 2 * GB, node="de-2")
    marzban.add_traffic("atcs_504", 1 * GB)
    assert await backend.usage(made) == 3 * GB


async def test_an_expired_token_means_one_new_login_for_all_requests(backend, marzban) -> None:
    made = await backend.create("atcs-505", SPEC)
    assert marzban.logins == 1
    marzban.advance_time(86400 + 1)                              # Marzban's tokens live a day
    results = await asyncio.gather(*(backend.usage(made) for _ in range(6)))
    assert results == [0] * 6
    assert marzban.logins == 2
    unauthorized = marzban.stats()["requests"].get("GET /api/user/{username}", 0)
    assert unauthorized >= 7                                     # the refused ones were asked again
    assert (await backend.health()).ok


async def test_refused_admin_credentials_are_an_error_without_the_password(marzban) -> None:
    server = VpnServer.model_validate({**marzban_server(marzban), "admin_password": "wrong-" + MARZBAN_PASSWORD})
    backend = build_backend(server, CircuitBreaker())
    try:
        with pytest.raises(PanelRejected) as error:
            await backend.find("atcs-506")
        text = str(error.value)
        assert "401" in text and "/api/admin/token" in text and MARZBAN_PASSWORD not in text
        health = await backend.health()
        assert not health.ok and MARZBAN_PASSWORD not in health.detail
    finally:
        await backend.close()


async def test_a_subscription_prefix_is_kept() -> None:
    async with MarzbanStandIn(admin_username="a_dm", admin_password="p", subscription_prefix="https://sub.example") as panel:
        backend = build_backend(VpnServer.model_validate({"name": "mz", "backend": "marzban", "api_url": panel.url,
                                                          "admin_username": "a_dm", "admin_password": "p"}),
                                CircuitBreaker())
        try:
            made = await backend.create("atcs-507", SPEC)
            assert made.access_key.startswith("https://sub.example/sub/")
            again = await backend.find("atcs-507")
            # The panel itself is asked whether the URL still works, whatever host fronts it.
            assert (await backend.keep_key(again, made.access_key)).access_key == made.access_key
        finally:
            await backend.close()
