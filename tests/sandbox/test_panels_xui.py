"""3x-ui stand-in (panel v3.6.0): its login session, CSRF and "hidden API" answers, the
client life cycle, and every answer checked against our contract fixtures in
contracts/3x-ui/v3.6.0 (every request we send against the request fixtures, as the VPN
gateway will do); faults come from the shared panel layer."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any, Optional

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from sandbox.kit.process import StandInProcess
from sandbox.panels.xui import XuiStandIn
from tests.support.contracts import contract_fixtures
from tests.support.http import client_session

fixture = contract_fixtures("3x-ui/v3.6.0")
DAY_MS = 86_400_000

ENVELOPE, REFUSAL, CSRF = fixture("envelope.response"), fixture("refusal.response"), fixture("csrf-token.response")
CLIENT, TRAFFIC, LINKS = fixture("client.response"), fixture("client-traffic.response"), fixture("client-links.response")
INBOUND, DELETED = fixture("inbound.response"), fixture("delete-client.response")
REQUESTS = {"/login": fixture("login.request"), "/panel/api/clients/add": fixture("add-client.request"),
            "update": fixture("update-client.request")}


class Panel:
    """A client of the stand-in that logs in like the gateway and checks what goes both ways."""

    def __init__(self, http: aiohttp.ClientSession, standin: XuiStandIn) -> None:
        self.http, self.standin, self.csrf = http, standin, ""

    async def call(self, method: str, path: str, body: Any = None, *, expect: Optional[Draft202012Validator] = None,
                   status: int = 200, csrf: bool = True) -> Any:
        schema = REQUESTS.get(path) or (REQUESTS["update"] if "/clients/update/" in path else None)
        if schema is not None and body is not None:
            schema.validate(body)
        headers = {"X-CSRF-Token": self.csrf} if csrf and self.csrf else {}
        async with self.http.request(method, self.standin.url + path, json=body, headers=headers,
                                     allow_redirects=False) as response:
            raw = await response.read()
            assert response.status == status, (response.status, raw[:200])
            data = json.loads(raw) if raw and response.content_type == "application/json" else raw
        if expect is not None:
            expect.validate(data)
        return data

    async def login(self, password: str = "pw") -> None:
        await self.call("POST", "/login", {"username": "admin", "password": password, "twoFactorCode": ""},
                        expect=ENVELOPE)
        self.csrf = (await self.call("GET", "/csrf-token", expect=CSRF))["obj"]


def new_client(email: str, **extra: Any) -> dict:
    return {"id": str(uuid.uuid4()), "email": email, "enable": True, "expiryTime": 1924991999000, "totalGB": 0,
            "limitIp": 0, "subId": "i7tvdpeffi0hvvf1", "tgId": 0, "comment": "", "reset": 0, "security": "", **extra}


@pytest.fixture
async def standin():
    async with XuiStandIn("admin", "pw", inbound_id=3) as s:
        yield s


@pytest.fixture
async def panel(standin):
    async with client_session(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Panel(http, standin)


async def test_login_sets_a_session_cookie_and_a_wrong_password_is_a_400(panel, standin):
    data = await panel.call("POST", "/login", {"username": "admin", "password": "nope", "twoFactorCode": ""},
                            status=400, expect=REFUSAL)
    assert data["msg"] == "Wrong username or password"
    assert standin.sessions() == 0
    await panel.login()
    assert standin.sessions() == 1 and panel.csrf
    assert any(c.key == "3x-ui" for c in panel.http.cookie_jar)


async def test_form_login_works_too(panel, standin):
    async with panel.http.post(f"{standin.url}/login", data={"username": "admin", "password": "pw"}) as response:
        assert response.status == 200 and (await response.json())["success"] is True


async def test_without_a_session_the_api_is_hidden(panel, standin):
    assert await panel.call("GET", "/panel/api/inbounds/get/3", status=404) == b""
    async with panel.http.get(f"{standin.url}/panel/api/inbounds/get/3",
                              headers={"X-Requested-With": "XMLHttpRequest"}) as response:
        assert response.status == 401
    await panel.call("GET", "/csrf-token", status=404)
    await panel.login()
    assert (await panel.call("GET", "/panel/api/inbounds/get/3", expect=INBOUND))["obj"]["id"] == 3
    standin.expire_sessions()
    await panel.call("GET", "/panel/api/inbounds/get/3", status=404)
    await panel.login()
    standin.advance_time(standin.session_ttl + 1)          # ages out on the panel's clock as well
    await panel.call("GET", "/panel/api/inbounds/get/3", status=404)


async def test_a_post_needs_the_sessions_csrf_token(panel):
    await panel.login()
    await panel.call("POST", "/panel/api/clients/add", {"client": new_client("a-1"), "inboundIds": [3]},
                     status=403, csrf=False)
    await panel.call("POST", "/panel/api/clients/add", {"client": new_client("a-1"), "inboundIds": [3]},
                     expect=ENVELOPE)


async def test_an_api_token_needs_no_session_nor_csrf(standin):
    standin.api_token = "tok-1"
    async with client_session() as http:
        async with http.post(f"{standin.url}/panel/api/clients/add", headers={"Authorization": "Bearer tok-1"},
                             json={"client": new_client("t-1"), "inboundIds": [3]}) as response:
            assert (await response.json())["success"] is True


async def test_client_life_cycle_in_the_panels_words(panel, standin):
    await panel.login()
    body = {"client": new_client("atcs-1", totalGB=10 << 30), "inboundIds": [3]}
    assert (await panel.call("POST", "/panel/api/clients/add", body, expect=ENVELOPE))["success"] is True
    duplicate = await panel.call("POST", "/panel/api/clients/add", body, expect=REFUSAL)
    assert "Duplicate email" in duplicate["msg"]
    record = (await panel.call("GET", "/panel/api/clients/get/atcs-1", expect=CLIENT))["obj"]["client"]
    assert record["uuid"] == body["client"]["id"] and record["totalGB"] == 10 << 30
    links = (await panel.call("GET", "/panel/api/clients/links/atcs-1", expect=LINKS))["obj"]
    assert links[0].startswith(f"vless://{record['uuid']}@127.0.0.1:") and "security=reality" in links[0]
    standin.add_traffic("atcs-1", 5000)
    traffic = (await panel.call("GET", "/panel/api/clients/traffic/atcs-1", expect=TRAFFIC))["obj"]
    assert traffic["up"] + traffic["down"] == 5000
    inbound = (await panel.call("GET", "/panel/api/inbounds/get/3", expect=INBOUND))["obj"]
    assert [c["email"] for c in inbound["clientStats"]] == ["atcs-1"]
    # update replaces the row: what is left out takes its zero value
    await panel.call("POST", "/panel/api/clients/update/atcs-1",
                     {**new_client("atcs-1"), "id": record["uuid"], "limitIp": 2}, expect=ENVELOPE)
    assert standin.client("atcs-1")["limitIp"] == 2 and standin.client("atcs-1")["totalGB"] == 0
    async with panel.http.post(f"{standin.url}/panel/api/clients/update/atcs-1", json={"email": "atcs-1"},
                               headers={"X-CSRF-Token": panel.csrf}) as response:
        assert (await response.json())["success"] is True
    assert standin.client("atcs-1")["enable"] is False
    missing = await panel.call("POST", "/panel/api/clients/update/nobody", new_client("nobody"), expect=REFUSAL)
    assert "not found" in missing["msg"]
    assert (await panel.call("POST", "/panel/api/clients/del/atcs-1?keepTraffic=0", expect=DELETED))["success"]
    for path in ("/panel/api/clients/get/atcs-1", "/panel/api/clients/traffic/atcs-1",
                 "/panel/api/clients/links/atcs-1"):
        assert "not found" in (await panel.call("GET", path, expect=REFUSAL))["msg"]
    gone = await panel.call("POST", "/panel/api/clients/del/atcs-1?keepTraffic=0", expect=REFUSAL)
    assert "not found" in gone["msg"]
    assert "not found" in (await panel.call("GET", "/panel/api/inbounds/get/99", expect=REFUSAL))["msg"]
    counts = standin.stats()
    assert (counts["accounts"], counts["create_attempts"], counts["creates_succeeded"], counts["deletes"]) == (0, 2, 1, 1)


async def test_the_panel_switches_off_an_expired_or_used_up_client(panel, standin):
    await panel.login()
    now = standin.clients.now_ms()
    await panel.call("POST", "/panel/api/clients/add",
                     {"client": new_client("e-1", expiryTime=now + DAY_MS), "inboundIds": [3]}, expect=ENVELOPE)
    await panel.call("POST", "/panel/api/clients/add",
                     {"client": new_client("q-1", totalGB=1000, subId="q1q1q1q1q1q1q1q1"), "inboundIds": [3]},
                     expect=ENVELOPE)
    standin.add_traffic("q-1", 1000)
    standin.advance_time(2 * 86_400)
    assert standin.client("e-1")["enable"] is False and standin.client("q-1")["enable"] is False
    async with panel.http.get(f"{standin.url}/sub/q1q1q1q1q1q1q1q1") as response:
        assert response.status == 404


async def test_the_subscription_serves_the_links_of_the_sub_id(panel, standin):
    await panel.login()
    await panel.call("POST", "/panel/api/clients/add", {"client": new_client("s-1"), "inboundIds": [3]},
                     expect=ENVELOPE)
    link = (await panel.call("GET", "/panel/api/clients/links/s-1"))["obj"][0]
    async with panel.http.get(f"{standin.url}/sub/i7tvdpeffi0hvvf1") as response:
        assert base64.b64decode(await response.text()).decode() == link


async def test_faults_come_in_the_panels_format_and_unknown_routes_are_gins(panel, standin):
    await panel.login()
    standin.add_fault(route="POST /panel/api/clients/add", kind="error", status=500, times=1)
    data = await panel.call("POST", "/panel/api/clients/add", {"client": new_client("f-1"), "inboundIds": [3]},
                            status=500)
    assert data["success"] is False
    standin.add_fault(route="*", kind="rate_limit", retry_after=2, times=1)
    async with panel.http.get(f"{standin.url}/panel/api/inbounds/get/3") as response:
        assert response.status == 429 and response.headers["Retry-After"] == "2"
    await panel.call("POST", "/panel/api/clients/add", {"client": new_client("f-1"), "inboundIds": [3]},
                     expect=ENVELOPE)
    assert standin.stats()["create_attempts"] == 2 and standin.stats()["creates_succeeded"] == 1
    standin.add_fault(route="POST /login", kind="outage", times=1)
    with pytest.raises(aiohttp.ClientError):
        await panel.login()
    assert await panel.call("GET", "/panel/api/inbounds/addClient", status=404) == b"404 page not found"


async def test_control_api(panel, standin):
    await panel.login()
    await panel.call("POST", "/panel/api/clients/add", {"client": new_client("c-1"), "inboundIds": [3]},
                     expect=ENVELOPE)
    async with panel.http.post(f"{standin.url}/_control/clients/c-1/traffic", json={"bytes": 10}) as response:
        assert (await response.json())["client"]["email"] == "c-1"
    async with panel.http.post(f"{standin.url}/_control/clients/none/traffic", json={"bytes": 10}) as response:
        assert response.status == 404
    async with panel.http.post(f"{standin.url}/_control/sessions/expire") as response:
        assert (await response.json())["expired"] == 1
    async with panel.http.post(f"{standin.url}/_control/reset") as response:
        assert response.status == 200
    assert standin.stats()["accounts"] == 0


async def test_entry_point():
    process = StandInProcess("sandbox.panels.xui", "--port", "0", "--username", "cli", "--password", "cli-pw",
                             "--inbound-id", "5")
    await process.start()
    try:
        assert process.info["service"] == "3x-ui" and process.info["inbound_id"] == 5
        async with client_session(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{process.info['url']}/login", json={"username": "cli", "password": "cli-pw"}) as r:
                assert (await r.json())["success"] is True
            async with http.get(f"{process.info['url']}/panel/api/inbounds/get/5") as r:
                assert (await r.json())["obj"]["id"] == 5
    finally:
        code = await asyncio.wait_for(process.stop(), 20)
    assert code == 0
