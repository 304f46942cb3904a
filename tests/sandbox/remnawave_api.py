"""The Remnawave stand-in's API as its tests call it (panel v3.2.3): every answer checked against our
contract fixtures in contracts/remnawave/v3.2.3, and every request we send against the request
fixtures, as the VPN gateway will do. The fixtures `panel` and `api` are imported by the tests that
use them (`remnawave_panel`, `checked_api`)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, Optional

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from sandbox.panels.remnawave import RemnawaveStandIn
from tests.support.contracts import contract_fixtures

TOKEN = "rw-test-token"
fixture = contract_fixtures("remnawave/v3.2.3")

USER = fixture("user.response")
BAD_REQUEST = fixture("bad-request.response")
NOT_FOUND = fixture("not-found.response")
VALIDATION = fixture("validation-error.response")
REQUESTS = {
    ("POST", "/api/users"): fixture("create-user.request"),
    ("PATCH", "/api/users"): fixture("update-user.request"),
    ("POST", "revoke"): fixture("revoke-subscription.request"),
    ("POST", "extend"): fixture("extend-user.request"),
}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FixtureCheckedClient:
    def __init__(self, session: aiohttp.ClientSession, standin: RemnawaveStandIn, token: Optional[str] = TOKEN):
        self.session, self.standin, self.token = session, standin, token

    async def __call__(self, method: str, path: str, body: Any = None, *, expect: Optional[Draft202012Validator] = None):
        request_schema = REQUESTS.get((method, path)) or REQUESTS.get((method, path.rsplit("/", 1)[-1]))
        if request_schema is not None and body is not None:
            request_schema.validate(body)  # what the gateway sends must fit the contract too
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(method, self.standin.url + path, json=body, headers=headers) as response:
            raw = await response.read()
            data = json.loads(raw) if raw else None
        if expect is None:
            expect = {200: USER, 201: USER, 404: NOT_FOUND}.get(response.status)
        if expect is not None:
            expect.validate(data)
        return response.status, data


@pytest.fixture(name="panel")
async def remnawave_panel() -> AsyncIterator[RemnawaveStandIn]:
    async with RemnawaveStandIn(token=TOKEN) as standin:
        yield standin


@pytest.fixture(name="api")
def checked_api(panel: RemnawaveStandIn, session: aiohttp.ClientSession) -> FixtureCheckedClient:
    """Our token's client of `panel`, every request and answer checked against the contract."""
    return FixtureCheckedClient(session, panel)
