"""Every request the 3x-ui client sends validates against our contract fixtures for panel
v3.6.0 (contracts/3x-ui/v3.6.0; tests/contracts/test_xui_fixtures.py checks those against the
panel's full spec) and, where the shared folder is present, against that spec too."""
from __future__ import annotations

import json
import orjson
import pytest
from jsonschema import ValidationError

from common.paths import REPO_ROOT
from sandbox.panels.xui import XuiStandIn
from tests.vpn_gateway.recording import Fixtures, Recorder, Sent, check_request
from tests.vpn_gateway.scenario import every_operation
from tests.vpn_gateway.support import XUI_PASSWORD, InProcessGateway, value, vpn_settings, xui_server

FIXTURES = REPO_ROOT / "contracts" / "3x-ui" / "v3.6.0"
FULL_SPEC = REPO_ROOT.parent / "shared" / "specs" / "3x-ui-openapi.json"

EXPECTED_OPERATIONS = {
    "POST /login", "GET /csrf-token", "GET /panel/api/inbounds/get/{id}", "POST /panel/api/clients/add",
    "GET /panel/api/clients/get/{email}", "GET /panel/api/clients/links/{email}",
    "POST /panel/api/clients/update/{email}", "POST /panel/api/clients/del/{email}",
    "GET /panel/api/clients/traffic/{email}", "GET /panel/api/server/status",
}

FIX = Fixtures(FIXTURES)
SPEC = json.loads(FULL_SPEC.read_text(encoding="utf-8")) if FULL_SPEC.exists() else None


def check(sent: Sent) -> str:
    template = check_request(FIX, SPEC, sent)
    assert "Authorization" not in sent.headers, "3x-ui is reached with the login session, not a token"
    if template.startswith("/panel/api/") and sent.method == "POST":
        assert sent.headers.get("X-CSRF-Token"), f"{template}: a POST of a cookie session needs the CSRF token"
    if template != "/login":
        assert XUI_PASSWORD not in bytes(sent.body).decode(errors="replace"), "the password goes to /login only"
    if "{email}" in template:
        assert sent.url.raw_path.rsplit("/", 1)[-1].startswith("atcs-"), "clients are addressed by our external id"
    return f"{sent.method} {template}"


async def test_every_request_the_xui_client_sends_is_in_the_contract(db, gateways, xui: XuiStandIn) -> None:
    recorder = Recorder()
    gw = InProcessGateway(db, vpn_settings([xui_server(xui)]), trace_configs=[recorder.trace_config()])
    gateways.append(gw)
    gw.start()

    async def add_traffic(used: int) -> None:
        xui.add_traffic("atcs-7101", used)

    async def expire_sessions() -> None:
        xui.expire_sessions()                      # the next call logs in again
    await every_operation(db, gw, "xui-1", 7101, add_traffic=add_traffic, before_reissue=expire_sessions)

    seen = {check(sent) for sent in recorder.sent}
    assert seen == EXPECTED_OPERATIONS
    logins = [sent for sent in recorder.sent if sent.url.raw_path == "/login"]
    assert len(logins) == 2, "one login at start, one after the sessions expired"
    updates = [sent.json() for sent in recorder.sent if "/clients/update/" in sent.url.raw_path]
    assert any(u["enable"] is False for u in updates) and any(u["enable"] is True for u in updates)
    adds = [sent.json() for sent in recorder.sent if sent.url.raw_path == "/panel/api/clients/add"]
    assert all(a["inboundIds"] == [xui.inbound_id] for a in adds)
    assert await value(db, "SELECT panel_id FROM vpn_accounts WHERE user_id = 7101") == "atcs-7101"


def test_the_checker_refuses_what_the_contract_does_not_allow() -> None:
    from yarl import URL

    def sent(method: str, path: str, body: object = None, csrf: str = "t") -> Sent:
        raw = bytearray(orjson.dumps(body)) if body is not None else bytearray()
        return Sent(method, URL(f"http://x{path}"), {"X-CSRF-Token": csrf, "Content-Type": "application/json"}, raw)

    client = {"id": "e18c9a96-71bf-48d4-933f-8b9a46d4290c", "email": "atcs-1", "enable": True,
              "expiryTime": 1924991999000, "totalGB": 0, "limitIp": 0, "subId": "i7tvdpeffi0hvvf1", "tgId": 0,
              "comment": "", "reset": 0, "security": ""}
    ok = {"client": client, "inboundIds": [3]}
    assert check(sent("POST", "/panel/api/clients/add", ok)) == "POST /panel/api/clients/add"
    for bad in (sent("POST", "/panel/api/clients/add", {**ok, "inboundIds": []}),
                sent("POST", "/panel/api/clients/add", {"client": {**client, "expiryTime": "2030"}, "inboundIds": [3]}),
                sent("POST", "/panel/api/clients/add", {"client": {**client, "uuid": "x"}, "inboundIds": [3]}),
                sent("POST", "/panel/api/clients/add", ok, csrf=""),
                sent("POST", "/panel/api/clients/update/atcs-1", {"email": "atcs-1", "enable": True}),
                sent("POST", "/panel/api/inbounds/addClient", ok),
                sent("POST", "/panel/api/clients/del/atcs-1?keepTraffic=1"),
                sent("GET", "/panel/api/clients/get/atcs-1", {"x": 1}),
                sent("POST", "/panel/api/clients/update/atcs-1", {**client, "password": XUI_PASSWORD})):
        with pytest.raises((AssertionError, ValidationError)):
            check(bad)
