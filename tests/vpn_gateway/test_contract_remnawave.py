"""Every request the Remnawave client sends validates against our contract fixtures for panel
v3.2.3 (contracts/remnawave/v3.2.3; tests/contracts/test_remnawave_fixtures.py checks those
against the panel's full spec) and, where the shared folder is present, against that spec too."""
from __future__ import annotations

import json

import orjson
import pytest
from jsonschema import ValidationError

from common.paths import REPO_ROOT
from sandbox.panels.remnawave import RemnawaveStandIn
from tests.vpn_gateway.recording import Fixtures, Recorder, Sent, check_request
from tests.vpn_gateway.scenario import every_operation
from tests.vpn_gateway.support import (
    REMNAWAVE_TOKEN, InProcessGateway, remnawave_server, value, vpn_settings,
)

FIXTURES = REPO_ROOT / "contracts" / "remnawave" / "v3.2.3"
FULL_SPEC = REPO_ROOT.parent / "shared" / "specs" / "remnawave-openapi.json"

EXPECTED_OPERATIONS = {
    "GET /api/users", "GET /api/users/by-username/{username}", "POST /api/users", "PATCH /api/users",
    "GET /api/users/{userId}", "DELETE /api/users/{userId}", "POST /api/users/{userId}/actions/revoke",
    "GET /api/system/metadata",
}


FIX = Fixtures(FIXTURES)
SPEC = json.loads(FULL_SPEC.read_text(encoding="utf-8")) if FULL_SPEC.exists() else None


def check(sent: Sent) -> str:
    template = check_request(FIX, SPEC, sent)
    if "{userId}" in template:
        user_id = sent.url.raw_path.split("/")[3]
        assert user_id.isdigit() and int(user_id) > 0, "v3 addresses users by a positive numeric id"
    assert sent.headers.get("Authorization") == f"Bearer {REMNAWAVE_TOKEN}"
    return f"{sent.method} {template}"


async def test_every_request_the_remnawave_client_sends_is_in_the_contract(db, gateways,
                                                                         remnawave: RemnawaveStandIn) -> None:
    recorder = Recorder()
    squad = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    gw = InProcessGateway(db, vpn_settings([remnawave_server(remnawave, squads=[squad])]),
                          trace_configs=[recorder.trace_config()])
    gateways.append(gw)
    gw.start()

    async def add_traffic(used: int) -> None:
        remnawave.add_traffic(int(await value(db, "SELECT panel_id FROM vpn_accounts WHERE user_id = 7001")), used)
    await every_operation(db, gw, "rw-1", 7001, add_traffic=add_traffic)

    seen = {check(sent) for sent in recorder.sent}
    assert seen == EXPECTED_OPERATIONS
    bodies = [sent.json() for sent in recorder.sent if sent.method == "PATCH"]
    assert any(b.get("status") == "DISABLED" for b in bodies) and any(b.get("status") == "ACTIVE" for b in bodies)
    creates = [sent.json() for sent in recorder.sent if sent.method == "POST" and sent.url.raw_path == "/api/users"]
    assert all(c["activeInternalSquads"] == [squad] for c in creates)


def test_the_checker_refuses_what_the_contract_does_not_allow() -> None:
    from yarl import URL

    def sent(method: str, path: str, body: object = None, token: str = REMNAWAVE_TOKEN) -> Sent:
        raw = bytearray(orjson.dumps(body)) if body is not None else bytearray()
        return Sent(method, URL(f"http://x{path}"), {"Authorization": f"Bearer {token}",
                                                     "Content-Type": "application/json"}, raw)

    ok = {"username": "atcs-1", "expireAt": "2030-01-01T00:00:00.000Z", "status": "ACTIVE"}
    assert check(sent("POST", "/api/users", ok)) == "POST /api/users"
    for bad in (sent("POST", "/api/users", {**ok, "expireAt": "tomorrow"}),
                sent("POST", "/api/users", {**ok, "uuid": "x"}),
                sent("POST", "/api/users", {"expireAt": ok["expireAt"]}),
                sent("PATCH", "/api/users", {"username": "atcs-1", "status": "DISABLED"}),
                sent("DELETE", "/api/users/abc"),
                sent("POST", "/api/users/1/actions/reset-traffic"),
                sent("GET", "/api/users/1", token="wrong"),
                sent("GET", "/api/users/1", {"x": 1})):
        with pytest.raises((AssertionError, ValidationError)):
            check(bad)
