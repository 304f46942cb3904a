"""Outline stand-in: the management API, every answer checked against the
upstream spec copied to contracts/outline/api.yml."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.kit.openapi import CONTRACTS_DIR, OpenApiSpec, UndocumentedResponse
from sandbox.panels.outline import OutlineStandIn, parse_access_url
from tests.support.http import client_session

SPEC = OpenApiSpec.from_file(CONTRACTS_DIR / "outline" / "api.yml")


class SpecCheckedClient:
    """Calls the stand-in and validates each answer against the spec."""

    def __init__(self, session: aiohttp.ClientSession, standin: OutlineStandIn) -> None:
        self.session, self.standin = session, standin
        self.checked = 0

    async def __call__(self, method: str, path: str, json: Any = None, *, check: bool = True):
        async with self.session.request(method, self.standin.api_url + path, json=json) as response:
            raw = await response.read()
            body = await response.json() if raw else None
            if check:
                SPEC.validate_response(method, path.split("?")[0], response.status, body)
                self.checked += 1
            return response.status, body


@pytest.fixture
async def outline():
    async with OutlineStandIn(api_prefix="TestSecretPrefix123", hostname_for_access_keys="vpn.example.org") as standin:
        yield standin


@pytest.fixture
async def api(outline):
    async with client_session() as session:
        yield SpecCheckedClient(session, outline)


def test_spec_checker_rejects_what_the_spec_does_not_promise():
    # The checker must be able to fail, or the tests below prove nothing.
    with pytest.raises(Exception):
        SPEC.validate_response("GET", "/access-keys/0", 200, {"name": "no id"})
    with pytest.raises(Exception):
        SPEC.validate_response("GET", "/access-keys", 200, {"accessKeys": [{"id": 5}]})
    with pytest.raises(UndocumentedResponse):
        SPEC.validate_response("POST", "/access-keys", 200, {"id": "0"})  # spec says 201
    with pytest.raises(UndocumentedResponse):
        SPEC.validate_response("DELETE", "/access-keys/0", 204, {"unexpected": "body"})
    with pytest.raises(UndocumentedResponse):
        SPEC.validate_response("GET", "/no-such-path", 200, {})


async def test_api_lives_under_the_secret_prefix(outline):
    assert outline.api_url == f"{outline.url}/TestSecretPrefix123"
    async with client_session() as session:
        async with session.get(f"{outline.url}/WrongPrefix/server") as response:
            assert response.status == 404
            assert (await response.json())["code"] == "ResourceNotFound"
        async with session.get(f"{outline.url}/server") as response:
            assert response.status == 404


async def test_server_info(api):
    status, server = await api("GET", "/server")
    assert status == 200
    assert server["hostnameForAccessKeys"] == "vpn.example.org"
    assert isinstance(server["portForNewAccessKeys"], int)
    assert "accessKeyDataLimit" not in server
    assert await api("PUT", "/name", {"name": "ATCS test"}) == (204, None)
    assert (await api("PUT", "/name", {}))[0] == 400
    assert (await api("GET", "/server"))[1]["name"] == "ATCS test"


async def test_access_key_crud_round_trip(api, outline):
    status, created = await api("POST", "/access-keys")
    assert status == 201
    assert created["id"] == "0" and created["name"] == "" and "dataLimit" not in created
    url = parse_access_url(created["accessUrl"])
    assert url == {"method": created["method"], "password": created["password"], "host": "vpn.example.org",
                   "port": created["port"]}
    assert created["accessUrl"].endswith("/?outline=1")

    status, named = await api("POST", "/access-keys", {"name": "user 42", "method": "aes-192-gcm", "port": 12345})
    assert status == 201 and (named["id"], named["name"], named["method"], named["port"]) == (
        "1", "user 42", "aes-192-gcm", 12345)

    status, chosen = await api("PUT", "/access-keys/purchase-77", {"name": "p77", "password": "fixedSecret"})
    assert status == 201 and chosen["id"] == "purchase-77" and chosen["password"] == "fixedSecret"
    # Upstream answers a second create with the same id with 409, which the spec does not list.
    status, conflict = await api("PUT", "/access-keys/purchase-77", {}, check=False)
    assert status == 409 and conflict["code"] == "Conflict"

    status, listing = await api("GET", "/access-keys")
    assert [k["id"] for k in listing["accessKeys"]] == ["0", "1", "purchase-77"]
    assert (await api("GET", "/access-keys/1"))[1] == named

    assert await api("PUT", "/access-keys/1/name", {"name": "renamed"}) == (204, None)
    assert (await api("GET", "/access-keys/1"))[1]["name"] == "renamed"

    assert await api("DELETE", "/access-keys/1") == (204, None)
    status, missing = await api("GET", "/access-keys/1")
    assert status == 404 and missing["code"] == "NotFoundError"
    assert (await api("DELETE", "/access-keys/1"))[0] == 404
    assert (await api("PUT", "/access-keys/1/name", {"name": "x"}))[0] == 404

    stats = outline.stats()
    assert (stats["accounts"], stats["create_attempts"], stats["creates_succeeded"], stats["deletes"]) == (2, 4, 3, 1)
    assert api.checked > 10


async def test_invalid_create_parameters(api, outline):
    for body in ({"method": "rc4-md5"}, {"port": 0}, {"port": "80"}, {"limit": {"bytes": -1}}, {"name": 5}):
        status, error = await api("POST", "/access-keys", body, check=False)
        assert status == 400 and error["code"] in ("InvalidArgument", "MissingParameter"), body
    assert outline.stats()["accounts"] == 0


async def test_per_key_and_server_data_limits(api, outline):
    _, key = await api("POST", "/access-keys", {"limit": {"bytes": 1000}})
    assert key["dataLimit"] == {"bytes": 1000}
    assert await api("PUT", f"/access-keys/{key['id']}/data-limit", {"limit": {"bytes": 5000}}) == (204, None)
    assert (await api("GET", f"/access-keys/{key['id']}"))[1]["dataLimit"] == {"bytes": 5000}
    assert (await api("PUT", f"/access-keys/{key['id']}/data-limit", {"limit": {"bytes": 1.5}}))[0] == 400
    assert (await api("PUT", "/access-keys/nope/data-limit", {"limit": {"bytes": 1}}))[0] == 404
    assert await api("DELETE", f"/access-keys/{key['id']}/data-limit") == (204, None)
    assert "dataLimit" not in (await api("GET", f"/access-keys/{key['id']}"))[1]

    assert await api("PUT", "/server/access-key-data-limit", {"limit": {"bytes": 700}}) == (204, None)
    assert (await api("GET", "/server"))[1]["accessKeyDataLimit"] == {"bytes": 700}
    outline.set_usage(key["id"], 700)
    assert outline.key_usage() == [{"id": key["id"], "bytes": 700, "limit": 700, "over_limit": True}]
    assert await api("DELETE", "/server/access-key-data-limit") == (204, None)
    assert outline.key_usage()[0]["over_limit"] is False


async def test_transfer_metrics(api, outline):
    for _ in range(3):
        await api("POST", "/access-keys")
    async with client_session() as session:
        async with session.post(f"{outline.url}/_control/usage", json={"id": "0", "bytes": 1008040941}) as response:
            assert response.status == 200
        async with session.post(f"{outline.url}/_control/usage", json={"id": "nope", "bytes": 1}) as response:
            assert response.status == 404
    outline.set_usage("2", 752221577)
    status, metrics = await api("GET", "/metrics/transfer")
    assert status == 200
    assert metrics == {"bytesTransferredByUserId": {"0": 1008040941, "2": 752221577}}
    status, detailed = await api("GET", "/experimental/server/metrics?since=30d")
    assert detailed["server"]["dataTransferred"]["bytes"] == 1008040941 + 752221577
    assert {k["accessKeyId"]: k["dataTransferred"]["bytes"] for k in detailed["accessKeys"]}[2] == 752221577


async def test_hostname_port_and_metrics_settings(api):
    assert await api("PUT", "/server/hostname-for-access-keys", {"hostname": "203.0.113.9"}) == (204, None)
    assert (await api("PUT", "/server/hostname-for-access-keys", {"hostname": "bad host!"}))[0] == 400
    assert await api("PUT", "/server/port-for-new-access-keys", {"port": 4410}) == (204, None)
    assert (await api("PUT", "/server/port-for-new-access-keys", {"port": 70000}))[0] == 400
    _, key = await api("POST", "/access-keys")
    assert parse_access_url(key["accessUrl"])["host"] == "203.0.113.9" and key["port"] == 4410
    assert await api("GET", "/metrics/enabled") == (200, {"metricsEnabled": False})
    assert await api("PUT", "/metrics/enabled", {"metricsEnabled": True}) == (204, None)
    assert await api("GET", "/metrics/enabled") == (200, {"metricsEnabled": True})
    assert (await api("PUT", "/metrics/enabled", {"metricsEnabled": "yes"}))[0] == 400


async def test_reset_forgets_keys_but_keeps_the_prefix(api, outline):
    await api("POST", "/access-keys")
    outline.reset()
    assert outline.stats() == {"accounts": 0, "create_attempts": 0, "creates_succeeded": 0, "deletes": 0, "requests": {}}
    _, key = await api("POST", "/access-keys")
    assert key["id"] == "0"
