"""Marzban stand-in (panel 0.8.4): every answer checked against our contract
fixtures in contracts/marzban/v0.8.4, and every request we send against the
request fixtures, as the VPN gateway will do."""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from sandbox.panels.marzban import MarzbanStandIn
from tests.support.contracts import contract_fixtures

ADMIN, PASSWORD = "admin", "mz-sandbox-pass"
fixture = contract_fixtures("marzban/v0.8.4")

USER = fixture("user.response")
TOKEN = fixture("token.response")
UNAUTHORIZED = fixture("unauthorized.response")
NOT_FOUND = fixture("not-found.response")
CONFLICT = fixture("conflict.response")
BAD_REQUEST = fixture("bad-request.response")
VALIDATION = fixture("validation-error.response")
USERS = fixture("users-page.response")
USAGE = fixture("usage.response")
DELETED = fixture("delete-user.response")
SUB_INFO = fixture("subscription-info.response")
REQUESTS = {("POST", "/api/user"): fixture("create-user.request"), ("PUT", "user"): fixture("modify-user.request")}
BY_STATUS = {401: UNAUTHORIZED, 404: NOT_FOUND, 409: CONFLICT, 400: BAD_REQUEST, 422: VALIDATION}


class FixtureCheckedClient:
    def __init__(self, session: aiohttp.ClientSession, standin: MarzbanStandIn, token: Optional[str]):
        self.session, self.standin, self.token = session, standin, token

    async def __call__(self, method: str, path: str, body: Any = None, *,
                       expect: Optional[Draft202012Validator] = None, check_request: bool = True):
        schema = REQUESTS.get((method, path)) or (REQUESTS.get((method, "user")) if path.startswith("/api/user/") else None)
        if check_request and schema is not None and body is not None:
            schema.validate(body)           # what the gateway sends must fit the contract too
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(method, self.standin.url + path, json=body, headers=headers) as response:
            data = json.loads(await response.read())
        if expect is None:
            expect = USER if response.status == 200 else BY_STATUS.get(response.status)
        assert expect is not None, (response.status, data)
        expect.validate(data)
        return response.status, data


async def login(session: aiohttp.ClientSession, panel: MarzbanStandIn, password: str = PASSWORD) -> tuple[int, Any]:
    form = {"grant_type": "password", "username": ADMIN, "password": password}
    fixture("admin-token.request").validate(form)
    async with session.post(f"{panel.url}/api/admin/token", data=form) as response:
        return response.status, await response.json()


@pytest.fixture
async def panel():
    async with MarzbanStandIn(admin_username=ADMIN, admin_password=PASSWORD) as standin:
        yield standin


@pytest.fixture
async def api(panel, session):
    status, token = await login(session, panel)
    assert status == 200
    TOKEN.validate(token)
    assert token["token_type"] == "bearer"
    return FixtureCheckedClient(session, panel, token["access_token"])


def test_fixture_validation_can_fail():
    with pytest.raises(Exception):
        USER.validate({"username": "u", "status": "sleeping", "used_traffic": 0, "proxies": {}, "created_at": "x"})
    with pytest.raises(Exception):
        REQUESTS[("POST", "/api/user")].validate({"username": "atcs-1", "proxies": {"vless": {}}})


async def test_login_and_tokens(panel, session):
    status, body = await login(session, panel, password="wrong")
    assert (status, body) == (401, {"detail": "Incorrect username or password"})
    async with session.post(f"{panel.url}/api/admin/token", data={"username": ADMIN}) as response:
        assert response.status == 422
        VALIDATION.validate(data := await response.json())
        assert data["detail"][0]["loc"] == ["body", "password"]
    for client, detail in ((FixtureCheckedClient(session, panel, None), "Not authenticated"),
                           (FixtureCheckedClient(session, panel, "forged"), "Could not validate credentials")):
        status, body = await client("GET", "/api/user/anyone")
        assert (status, body) == (401, {"detail": detail})
    _, token = await login(session, panel)
    client = FixtureCheckedClient(session, panel, token["access_token"])
    assert (await client("GET", "/api/users", expect=USERS))[0] == 200
    panel.advance_time(86400 + 1)                          # a day later the token has expired
    assert (await client("GET", "/api/users"))[1] == {"detail": "Could not validate credentials"}
    _, token = await login(session, panel)
    client.token = token["access_token"]
    assert (await client("GET", "/api/users", expect=USERS))[0] == 200
    async with session.post(f"{panel.url}/_control/tokens/expire") as response:
        assert response.status == 200
    assert (await client("GET", "/api/users"))[0] == 401
    assert panel.logins == 2 and panel.stats()["accounts"] == 0


async def test_user_lifecycle(api, panel, session):
    expire = int(panel.clock.now().timestamp()) + 30 * 86400
    status, user = await api("POST", "/api/user", {"username": "atcs_1001", "status": "active", "expire": expire,
                                                   "data_limit": 10 * 2**30, "data_limit_reset_strategy": "no_reset",
                                                   "proxies": {"vless": {}}})
    assert status == 200
    assert (user["username"], user["status"], user["expire"], user["data_limit"]) == ("atcs_1001", "active", expire, 10 * 2**30)
    assert user["inbounds"] == {"vless": ["VLESS TCP REALITY"]} and len(user["links"]) == 1
    assert user["subscription_url"].startswith("/sub/")    # relative: no XRAY_SUBSCRIPTION_URL_PREFIX
    uuid_before = user["proxies"]["vless"]["id"]

    _, again = await api("GET", "/api/user/atcs_1001")
    assert again["proxies"] == user["proxies"]

    # Renewal: an absolute expiry; null and absent fields stay as they are.
    _, modified = await api("PUT", "/api/user/atcs_1001", {"expire": expire + 30 * 86400, "data_limit": 0})
    assert (modified["expire"], modified["data_limit"], modified["status"]) == (expire + 30 * 86400, None, "active")
    _, disabled = await api("PUT", "/api/user/atcs_1001", {"status": "disabled"})
    assert disabled["status"] == "disabled" and disabled["expire"] == expire + 30 * 86400

    # The subscription: public, base64 of the links; revoke_sub refuses every URL printed before.
    old_url = panel.url + user["subscription_url"]
    async with session.get(old_url + "/info") as response:
        assert response.status == 200
        SUB_INFO.validate(await response.json())
    _, revoked = await api("POST", "/api/user/atcs_1001/revoke_sub")
    assert revoked["proxies"]["vless"]["id"] != uuid_before
    async with session.get(old_url + "/info") as response:
        assert (response.status, await response.json()) == (404, {"detail": "User not found"})
    async with session.get(panel.url + revoked["subscription_url"] + "/") as response:
        assert response.status == 200
        assert base64.b64decode(await response.text()) == b""      # disabled: no links served
    await api("PUT", "/api/user/atcs_1001", {"status": "active"})
    async with session.get(panel.url + revoked["subscription_url"] + "/") as response:
        assert base64.b64decode(await response.text()).decode().startswith("vless://")
    async with session.get(panel.url + "/sub/not-a-token-at-all/info") as response:
        assert response.status == 400

    # Traffic, usage per node, reset.
    panel.add_traffic("atcs_1001", 1000, node="de-2")
    _, usage = await api("GET", "/api/user/atcs_1001/usage", expect=USAGE)
    assert usage == {"username": "atcs_1001", "usages": [{"node_id": 1, "node_name": "de-2", "used_traffic": 1000}]}
    _, reset = await api("POST", "/api/user/atcs_1001/reset")
    assert reset["used_traffic"] == 0 and reset["lifetime_used_traffic"] == 1000

    status, body = await api("DELETE", "/api/user/atcs_1001", expect=DELETED)
    assert (status, body) == (200, {"detail": "User successfully deleted"})
    for method, path in (("GET", "/api/user/atcs_1001"), ("DELETE", "/api/user/atcs_1001"),
                         ("POST", "/api/user/atcs_1001/revoke_sub")):
        assert await api(method, path) == (404, {"detail": "User not found"})
    stats = panel.stats()
    assert (stats["accounts"], stats["create_attempts"], stats["creates_succeeded"], stats["deletes"]) == (0, 1, 1, 1)


async def test_expiry_and_limit_change_status(api, panel):
    now = int(panel.clock.now().timestamp())
    await api("POST", "/api/user", {"username": "expiring", "expire": now + 3600, "proxies": {"vless": {}}})
    await api("POST", "/api/user", {"username": "limited", "data_limit": 1000, "proxies": {"trojan": {}}})
    panel.advance_time(3601)
    assert (await api("GET", "/api/user/expiring"))[1]["status"] == "expired"
    _, renewed = await api("PUT", "/api/user/expiring", {"expire": now + 90 * 86400})
    assert renewed["status"] == "active"
    panel.add_traffic("limited", 1000)
    assert (await api("GET", "/api/user/limited"))[1]["status"] == "limited"
    _, raised = await api("PUT", "/api/user/limited", {"data_limit": 5000})
    assert raised["status"] == "active"
    _, page = await api("GET", "/api/users?offset=1&limit=1", expect=USERS)
    assert page["total"] == 2 and [u["username"] for u in page["users"]] == ["limited"]


async def test_validation_conflicts_and_disabled_protocols(api, panel, session):
    bad_bodies = [
        ({"proxies": {"vless": {}}}, ["body", "username"]),
        ({"username": "ab", "proxies": {"vless": {}}}, ["body", "username"]),
        ({"username": "atcs-1", "proxies": {"vless": {}}}, ["body", "username"]),
        ({"username": "okname", "proxies": {}}, ["body", "proxies"]),
        ({"username": "okname", "proxies": {"wireguard": {}}}, ["body", "proxies"]),
        ({"username": "okname", "proxies": {"vless": {}}, "expire": "tomorrow"}, ["body", "expire"]),
        ({"username": "okname", "proxies": {"vless": {}}, "data_limit": -1}, ["body", "data_limit"]),
        ({"username": "okname", "proxies": {"vless": {}}, "status": "disabled"}, ["body", "status"]),
    ]
    for body, loc in bad_bodies:
        status, data = await api("POST", "/api/user", body, check_request=False)
        assert status == 422, body
        assert loc in [issue["loc"] for issue in data["detail"]], (body, data)
    await api("POST", "/api/user", {"username": "taken", "proxies": {"vless": {}}})
    assert await api("POST", "/api/user", {"username": "taken", "proxies": {"vless": {}}}) == (
        409, {"detail": "User already exists"})
    assert (await api("PUT", "/api/user/taken", {"status": "expired"}, check_request=False))[0] == 422
    async with MarzbanStandIn(admin_username=ADMIN, admin_password=PASSWORD, protocols=("vmess",)) as vmess_only:
        _, token = await login(session, vmess_only)
        client = FixtureCheckedClient(session, vmess_only, token["access_token"])
        assert await client("POST", "/api/user", {"username": "okname", "proxies": {"vless": {}}}) == (
            400, {"detail": "Protocol vless is disabled on your server"})
    status, body = await api("GET", "/api/nothing-here", expect=NOT_FOUND)
    assert (status, body) == (404, {"detail": "Not Found"})
    stats = panel.stats()
    assert (stats["accounts"], stats["create_attempts"], stats["creates_succeeded"]) == (1, len(bad_bodies) + 2, 1)
