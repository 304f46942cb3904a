"""Remnawave stand-in (panel v3.2.3): every answer checked against our contract
fixtures in contracts/remnawave/v3.2.3, and every request we send against the
request fixtures, as the VPN gateway will do."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from tests.sandbox.remnawave_api import (  # noqa: F401 - checked_api, remnawave_panel: the fixtures
    BAD_REQUEST, REQUESTS, TOKEN, USER, VALIDATION, FixtureCheckedClient, checked_api, iso, parse,
    remnawave_panel,
)


def test_fixture_validation_can_fail():
    with pytest.raises(Exception):
        USER.validate({"response": {"id": "1"}})
    with pytest.raises(Exception):
        REQUESTS[("POST", "/api/users")].validate({"username": "ab", "expireAt": "2030-01-01T00:00:00Z"})


async def test_bearer_token_is_required(panel, session):
    for client in (FixtureCheckedClient(session, panel, token=None), FixtureCheckedClient(session, panel, token="wrong")):
        status, body = await client("GET", "/api/users/by-username/anyone")
        assert (status, body) == (401, {"message": "Unauthorized", "statusCode": 401})
    assert panel.stats()["accounts"] == 0


async def test_user_lifecycle_create_extend_revoke_delete(api, panel, session):
    expire = panel.clock.now() + timedelta(days=30)
    status, created = await api("POST", "/api/users", {
        "username": "atcs_1001", "expireAt": iso(expire), "trafficLimitBytes": 10 * 2**30,
        "trafficLimitStrategy": "MONTH", "description": "order 77", "telegramId": 1001,
    })
    assert status == 201
    user = created["response"]
    user_id, first_short = user["id"], user["shortUuid"]
    assert (user["username"], user["status"], user["trafficLimitBytes"]) == ("atcs_1001", "ACTIVE", 10 * 2**30)
    assert user["subscriptionUrl"] == f"{panel.url}/api/sub/{first_short}"
    assert user["userTraffic"]["usedTrafficBytes"] == 0

    assert (await api("GET", f"/api/users/{user_id}"))[1] == created
    assert (await api("GET", "/api/users/by-username/atcs_1001"))[1] == created

    # Renewal: +30 days with extend, then an explicit date with PATCH.
    _, extended = await api("POST", f"/api/users/{user_id}/actions/extend", {"days": 30})
    assert parse(extended["response"]["expireAt"]) - parse(user["expireAt"]) == timedelta(days=30)
    later = expire + timedelta(days=90)
    _, updated = await api("PATCH", "/api/users", {"id": user_id, "expireAt": iso(later), "trafficLimitBytes": 0})
    assert parse(updated["response"]["expireAt"]) == parse(iso(later))
    assert updated["response"]["trafficLimitBytes"] == 0

    # Revoke: a new subscription URL; the old one stops working.
    async with session.get(user["subscriptionUrl"]) as response:
        assert response.status == 200
        assert base64.b64decode(await response.text()).decode().startswith(f"vless://{user['vlessUuid']}@")
    _, revoked = await api("POST", f"/api/users/{user_id}/actions/revoke", {})
    new = revoked["response"]
    assert new["shortUuid"] != first_short and new["subRevokedAt"] is not None
    assert new["vlessUuid"] != user["vlessUuid"] and new["subscriptionUrl"].endswith(new["shortUuid"])
    async with session.get(user["subscriptionUrl"]) as response:
        assert response.status == 404
    async with session.get(new["subscriptionUrl"]) as response:
        assert response.status == 200

    # Disable / enable, refusing a no-op like the panel does.
    _, disabled = await api("POST", f"/api/users/{user_id}/actions/disable")
    assert disabled["response"]["status"] == "DISABLED"
    status, error = await api("POST", f"/api/users/{user_id}/actions/disable", expect=BAD_REQUEST)
    assert (status, error["errorCode"]) == (400, "A029")
    _, enabled = await api("POST", f"/api/users/{user_id}/actions/enable")
    assert enabled["response"]["status"] == "ACTIVE"
    status, error = await api("POST", f"/api/users/{user_id}/actions/enable", expect=BAD_REQUEST)
    assert (status, error["errorCode"]) == (400, "A030")

    status, body = await api("DELETE", f"/api/users/{user_id}")
    assert (status, body) == (204, None)
    status, error = await api("GET", f"/api/users/{user_id}")
    assert (status, error["errorCode"]) == (404, "A025")
    status, error = await api("GET", "/api/users/by-username/atcs_1001")
    assert (status, error["errorCode"]) == (404, "A063")
    assert (await api("DELETE", f"/api/users/{user_id}"))[0] == 404

    stats = panel.stats()
    assert (stats["accounts"], stats["create_attempts"], stats["creates_succeeded"], stats["deletes"]) == (0, 1, 1, 1)


async def test_update_by_username_and_status(api, panel):
    _, created = await api("POST", "/api/users", {"username": "u-2", "expireAt": iso(panel.clock.now() + timedelta(days=1))})
    # The gateway addresses users by id; the panel also accepts username.
    async with api.session.patch(
        f"{panel.url}/api/users", json={"username": "u-2", "status": "DISABLED"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 200
        USER.validate(await response.json())
    assert panel.user(created["response"]["id"])["status"] == "DISABLED"
    status, error = await api("PATCH", "/api/users", {"id": 999, "status": "ACTIVE"})
    assert (status, error["errorCode"]) == (404, "A025")


async def test_expiry_and_traffic_limit_change_status(api, panel, session):
    now = panel.clock.now()
    _, a = await api("POST", "/api/users", {"username": "expiring", "expireAt": iso(now + timedelta(hours=1))})
    _, b = await api("POST", "/api/users", {"username": "limited", "expireAt": iso(now + timedelta(days=9)),
                                             "trafficLimitBytes": 1000})
    a_id, b_id = a["response"]["id"], b["response"]["id"]
    async with session.post(f"{panel.url}/_control/clock", json={"advance": 3601}) as response:
        assert response.status == 200
    assert (await api("GET", f"/api/users/{a_id}"))[1]["response"]["status"] == "EXPIRED"
    _, renewed = await api("POST", f"/api/users/{a_id}/actions/extend", {"days": 30})
    assert renewed["response"]["status"] == "ACTIVE"

    async with session.post(f"{panel.url}/_control/users/{b_id}/traffic", json={"bytes": 1000}) as response:
        assert response.status == 200
    _, limited = await api("GET", f"/api/users/{b_id}")
    assert limited["response"]["status"] == "LIMITED"
    assert limited["response"]["userTraffic"]["usedTrafficBytes"] == 1000
    _, raised = await api("PATCH", "/api/users", {"id": b_id, "trafficLimitBytes": 5000})
    assert raised["response"]["status"] == "ACTIVE"


async def test_create_validation_and_conflicts(api, panel):
    expire = iso(panel.clock.now() + timedelta(days=1))
    bad_bodies = [
        ({"username": "x", "expireAt": expire}, "username"),
        ({"username": "has space", "expireAt": expire}, "username"),
        ({"username": "okname"}, "expireAt"),
        ({"username": "okname", "expireAt": "tomorrow"}, "expireAt"),
        ({"username": "okname", "expireAt": expire, "trafficLimitBytes": -1}, "trafficLimitBytes"),
        ({"username": "okname", "expireAt": expire, "status": "SLEEPING"}, "status"),
    ]
    for body, field in bad_bodies:
        async with api.session.post(f"{panel.url}/api/users", json=body,
                                    headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            data = await response.json()
        assert response.status == 400, body
        VALIDATION.validate(data)
        assert [field] in [issue["path"] for issue in data["errors"]], (body, data)
    status, error = await api("GET", "/api/users/not-a-number", expect=VALIDATION)
    assert status == 400 and error["errors"][0]["path"] == ["userId"]

    await api("POST", "/api/users", {"username": "taken", "expireAt": expire})
    status, error = await api("POST", "/api/users", {"username": "taken", "expireAt": expire}, expect=BAD_REQUEST)
    assert (status, error["errorCode"], error["message"]) == (400, "A019", "User username already exists")
    stats = panel.stats()
    assert (stats["accounts"], stats["create_attempts"], stats["creates_succeeded"]) == (1, len(bad_bodies) + 2, 1)


async def test_list_users_pages(api, panel):
    expire = iso(panel.clock.now() + timedelta(days=1))
    for n in range(3):
        await api("POST", "/api/users", {"username": f"user{n}", "expireAt": expire})
    async with api.session.get(f"{panel.url}/api/users", params={"start": 1, "size": 1},
                               headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        data = await response.json()
    assert data["response"]["total"] == 3
    assert [u["username"] for u in data["response"]["users"]] == ["user1"]
