"""Every request the Marzban client sends validates against our contract fixtures for panel
0.8.4 (contracts/marzban/v0.8.4; tests/contracts/test_marzban_fixtures.py checks those against
the panel's full spec) and, where the shared folder is present, against that spec too."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from jsonschema import ValidationError

from common.paths import REPO_ROOT
from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation
from sandbox.panels.marzban import MarzbanStandIn
from services.vpn_gateway.panels.base import AccessSpec, AccountExists
from tests.vpn_gateway.recording import FORM, Fixtures, Recorder, Sent, check_request
from tests.vpn_gateway.support import (
    GB, MARZBAN_ADMIN, MARZBAN_PASSWORD, InProcessGateway, buy, marzban_server, vpn_settings,
)

FIXTURES = REPO_ROOT / "contracts" / "marzban" / "v0.8.4"
FULL_SPEC = REPO_ROOT.parent / "shared" / "specs" / "marzban-openapi.json"

EXPECTED_OPERATIONS = {
    "POST /api/admin/token", "GET /api/users", "GET /api/user/{username}", "POST /api/user",
    "PUT /api/user/{username}", "DELETE /api/user/{username}", "POST /api/user/{username}/revoke_sub",
    "GET /sub/{token}/info", "GET /api/system",
}

FIX = Fixtures(FIXTURES)
SPEC = json.loads(FULL_SPEC.read_text(encoding="utf-8")) if FULL_SPEC.exists() else None


def check(sent: Sent, tokens: list[str]) -> str:
    template = check_request(FIX, SPEC, sent)
    if template == "/api/admin/token":
        assert "Authorization" not in sent.headers, "the login carries no token"
        assert sent.parsed() == {"grant_type": "password", "username": MARZBAN_ADMIN, "password": MARZBAN_PASSWORD}
    else:
        scheme, _, token = sent.headers.get("Authorization", "").partition(" ")
        assert scheme == "Bearer" and token in tokens, "an access token the panel issued"
    if "{username}" in template:
        assert sent.url.raw_path.split("/")[3].startswith("atcs_"), "the username derived from our external id"
    return f"{sent.method} {template}"


async def test_every_request_the_marzban_client_sends_is_in_the_contract(db, gateways,
                                                                       marzban: MarzbanStandIn) -> None:
    recorder = Recorder()
    gw = InProcessGateway(db, vpn_settings([marzban_server(marzban, proxies=["vless", "trojan"])]),
                          trace_configs=[recorder.trace_config()])
    gateways.append(gw)
    gw.start()
    await buy(db, 7101, 3, is_trial=True, traffic_gb=10)
    await buy(db, 7102, 30, traffic_gb=0)
    await gw.settle()
    await buy(db, 7101, 30, traffic_gb=0)          # renewal: expiry and limit change
    await gw.settle()
    marzban.add_traffic("atcs_7101", 3 * GB)
    assert (await gw.usage.get(7101)).used_bytes == 3 * GB
    tokens_before = marzban.issued_tokens
    marzban.expire_tokens()                         # the next call is refused once, then logs in again
    async with db.transaction() as conn:
        await enqueue_activation(conn, 7101, Activation.REISSUE, "c:reissue")
        await conn.execute("UPDATE subscriptions SET status = 'revoked', updated_at = now() WHERE user_id = 7102")
        await enqueue_activation(conn, 7102, Activation.REVOKE, "c:revoke")
    await gw.settle()
    async with db.transaction() as conn:       # expiry switches the user off; renewal on again
        await conn.execute("UPDATE subscriptions SET expires_at = now() - interval '1 day' WHERE user_id = 7101")
        await enqueue_activation(conn, 7101, Activation.EXPIRE, "c:expire")
    await gw.settle()
    await buy(db, 7101, 30)
    await gw.settle()
    backend = gw.pool.get("mz-1").backend
    spec = AccessSpec(datetime.now(timezone.utc) + timedelta(days=1), 0)
    await backend.create("atcs-7103", spec)
    with pytest.raises(AccountExists):
        await backend.create("atcs-7103", spec)
    assert (await backend.health()).ok

    tokens = tokens_before + marzban.issued_tokens
    seen = {check(sent, tokens) for sent in recorder.sent}
    assert seen == EXPECTED_OPERATIONS
    bodies = [sent.json() for sent in recorder.sent if sent.method == "PUT"]
    assert any(b.get("status") == "disabled" for b in bodies) and any(b.get("status") == "active" for b in bodies)
    creates = [sent.json() for sent in recorder.sent if sent.method == "POST" and sent.url.raw_path == "/api/user"]
    assert creates and all(c["proxies"] == {"vless": {}, "trojan": {}} for c in creates)
    assert sum(1 for sent in recorder.sent if sent.url.raw_path == "/api/admin/token") == 2


def test_the_checker_refuses_what_the_contract_does_not_allow() -> None:
    from yarl import URL

    def sent(method: str, path: str, body: object = None, *, form: bool = False) -> Sent:
        if form:
            raw = bytearray("&".join(f"{k}={v}" for k, v in dict(body or {}).items()).encode())
            headers = {"Content-Type": FORM}
        else:
            raw = bytearray(orjson.dumps(body)) if body is not None else bytearray()
            headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
        return Sent(method, URL(f"http://x{path}"), headers, raw)

    ok = {"username": "atcs_1", "expire": 1893456000, "proxies": {"vless": {}}}
    assert check(sent("POST", "/api/user", ok), ["t"]) == "POST /api/user"
    login = {"grant_type": "password", "username": MARZBAN_ADMIN, "password": MARZBAN_PASSWORD}
    assert check(sent("POST", "/api/admin/token", login, form=True), []) == "POST /api/admin/token"
    for bad in (sent("POST", "/api/user", {**ok, "username": "atcs-1"}),
                sent("POST", "/api/user", {**ok, "expire": "2030-01-01"}),
                sent("POST", "/api/user", {**ok, "proxies": {}}),
                sent("POST", "/api/user", {**ok, "proxies": {"vless": {"id": "mine"}}}),
                sent("POST", "/api/user", {**ok, "expireAt": 1}),
                sent("PUT", "/api/user/atcs_1", {}),
                sent("PUT", "/api/user/atcs_1", {"status": "expired"}),
                sent("POST", "/api/admin/token", login),                       # JSON, not a form
                sent("POST", "/api/user/atcs_1/active-next"),
                sent("GET", "/api/user/atcs_1", {"x": 1})):
        with pytest.raises((AssertionError, ValidationError)):
            check(bad, ["t"])
