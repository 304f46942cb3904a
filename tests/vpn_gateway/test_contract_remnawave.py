"""Every request the Remnawave client sends validates against our contract fixtures for panel
v3.2.3 (contracts/remnawave/v3.2.3; tests/contracts/test_remnawave_fixtures.py checks those
against the panel's full spec) and, where the shared folder is present, against that spec too."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from common.config import REPO_ROOT
from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation
from sandbox.panels.remnawave import RemnawaveStandIn
from services.vpn_gateway.panels.base import AccessSpec, AccountExists
from tests.vpn_gateway.recording import Recorder, Sent, template_for, validate_oas_body
from tests.vpn_gateway.support import (
    GB, REMNAWAVE_TOKEN, InProcessGateway, buy, remnawave_server, value, vpn_settings,
)

FIXTURES = REPO_ROOT / "contracts" / "remnawave" / "v3.2.3"
FULL_SPEC = REPO_ROOT.parent / "shared" / "specs" / "remnawave-openapi.json"

EXPECTED_OPERATIONS = {
    "GET /api/users", "GET /api/users/by-username/{username}", "POST /api/users", "PATCH /api/users",
    "GET /api/users/{userId}", "DELETE /api/users/{userId}", "POST /api/users/{userId}/actions/revoke",
}


class Fixtures:
    def __init__(self, folder: Path) -> None:
        self.operations: set[tuple[str, str]] = set()
        self.requests: dict[tuple[str, str], dict] = {}
        self.queries: dict[tuple[str, str], dict] = {}
        for path in sorted(folder.glob("*.json")):
            fixture = json.loads(path.read_text(encoding="utf-8"))
            for op in fixture.get("x-operations", []):
                key = (op["method"].upper(), op["path"])
                self.operations.add(key)
                if op["part"] == "request":
                    self.requests[key] = fixture
                if "x-query" in fixture:
                    self.queries[key] = fixture["x-query"]


FIX = Fixtures(FIXTURES)
SPEC = json.loads(FULL_SPEC.read_text(encoding="utf-8")) if FULL_SPEC.exists() else None


def check(sent: Sent) -> str:
    path = sent.url.raw_path
    template = template_for(sorted({p for _, p in FIX.operations}), path)
    assert template is not None, f"{sent.method} {path}: no fixture names this path"
    key = (sent.method, template)
    assert key in FIX.operations, f"{sent.method} {template}: no fixture names this operation"
    if "{userId}" in template:
        user_id = path.split("/")[3]
        assert user_id.isdigit() and int(user_id) > 0, "v3 addresses users by a positive numeric id"
    assert sent.headers.get("Authorization") == f"Bearer {REMNAWAVE_TOKEN}"
    query = dict(sent.url.query)
    if query:
        schema = FIX.queries.get(key)
        assert schema is not None, f"{sent.method} {template}: query string not in the fixtures"
        for name, raw in query.items():
            assert name in schema, f"query parameter {name} not in the fixtures"
            Draft202012Validator(schema[name]).validate(int(raw) if raw.lstrip("-").isdigit() else raw)
    body = sent.json()
    fixture = FIX.requests.get(key)
    if fixture is None:
        assert body is None, f"{sent.method} {template}: body sent where the fixtures have none"
    else:
        assert body is not None, f"{sent.method} {template}: the fixtures require a body"
        assert sent.headers.get("Content-Type") == "application/json"
        Draft202012Validator(fixture, format_checker=FormatChecker()).validate(body)
    if SPEC is not None:
        operation = SPEC["paths"][template][sent.method.lower()]
        if body is not None:
            validate_oas_body(SPEC, operation["requestBody"]["content"]["application/json"], body)
        else:
            assert not (operation.get("requestBody") or {}).get("required"), "the spec requires a body"
    return f"{sent.method} {template}"


async def test_every_request_the_remnawave_client_sends_is_in_the_contract(db, gateways,
                                                                         remnawave: RemnawaveStandIn) -> None:
    recorder = Recorder()
    squad = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    gw = InProcessGateway(db, vpn_settings([remnawave_server(remnawave, squads=[squad])]),
                          trace_configs=[recorder.trace_config()])
    gateways.append(gw)
    gw.start()
    await buy(db, 7001, 3, is_trial=True, traffic_gb=10)
    await buy(db, 7002, 30, traffic_gb=0)
    await gw.settle()
    await buy(db, 7001, 30, traffic_gb=0)          # renewal: expiry and limit change
    await gw.settle()
    panel_id = await value(db, "SELECT panel_id FROM vpn_accounts WHERE user_id = 7001")
    remnawave.add_traffic(int(panel_id), 3 * GB)
    assert (await gw.usage.get(7001)).used_bytes == 3 * GB
    async with db.transaction() as conn:
        await enqueue_activation(conn, 7001, Activation.REISSUE, "c:reissue")
        await conn.execute("UPDATE subscriptions SET status = 'revoked', updated_at = now() WHERE user_id = 7002")
        await enqueue_activation(conn, 7002, Activation.REVOKE, "c:revoke")
    await gw.settle()
    async with db.transaction() as conn:       # expiry switches the user off; renewal on again
        await conn.execute("UPDATE subscriptions SET expires_at = now() - interval '1 day' WHERE user_id = 7001")
        await enqueue_activation(conn, 7001, Activation.EXPIRE, "c:expire")
    await gw.settle()
    await buy(db, 7001, 30)
    await gw.settle()
    backend = gw.pool.get("rw-1").backend
    spec = AccessSpec(datetime.now(timezone.utc) + timedelta(days=1), 0)
    await backend.create("atcs-7003", spec)
    with pytest.raises(AccountExists):
        await backend.create("atcs-7003", spec)
    assert (await backend.health()).ok

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
