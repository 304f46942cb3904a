"""Every panel stand-in: latency, 5xx, 429 with Retry-After and outages, per
route or global, driven through the control API; attempts are counted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import aiohttp
import pytest

from sandbox.panels.marzban import MarzbanStandIn
from sandbox.panels.outline import OutlineStandIn
from sandbox.panels.remnawave import RemnawaveStandIn

TOKEN = "rw-test-token"


@dataclass
class Panel:
    standin: object
    create: Callable  # (session) -> awaitable (status, headers, body)
    read: Callable
    create_route: str
    read_route: str
    created: int = 201      # the status of a successful create


def _expire() -> str:
    return (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _request(session, method, url, **kwargs):
    async with session.request(method, url, **kwargs) as response:
        return response.status, response.headers, await response.read()


@pytest.fixture(params=["outline", "remnawave", "marzban"])
async def panel(request):
    if request.param == "outline":
        standin = OutlineStandIn()
        async with standin:
            yield Panel(
                standin,
                create=lambda s: _request(s, "POST", f"{standin.api_url}/access-keys"),
                read=lambda s: _request(s, "GET", f"{standin.api_url}/server"),
                create_route="POST /access-keys",
                read_route="GET /server",
            )
    elif request.param == "marzban":
        standin = MarzbanStandIn()
        counter = iter(range(10**6))
        async with standin:
            auth = {"Authorization": f"Bearer {standin.issue_token()}"}
            yield Panel(
                standin,
                create=lambda s: _request(
                    s, "POST", f"{standin.url}/api/user", headers=auth,
                    json={"username": f"user{next(counter)}", "proxies": {"vless": {}}},
                ),
                read=lambda s: _request(s, "GET", f"{standin.url}/api/users", headers=auth),
                create_route="POST /api/user",
                read_route="GET /api/users",
                created=200,
            )
    else:
        standin = RemnawaveStandIn(token=TOKEN)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        counter = iter(range(10**6))
        async with standin:
            yield Panel(
                standin,
                create=lambda s: _request(
                    s, "POST", f"{standin.url}/api/users", headers=auth,
                    json={"username": f"user{next(counter)}", "expireAt": _expire()},
                ),
                read=lambda s: _request(s, "GET", f"{standin.url}/api/users", headers=auth),
                create_route="POST /api/users",
                read_route="GET /api/users",
            )


async def add_fault(session, panel: Panel, **spec) -> dict:
    async with session.post(f"{panel.standin.url}/_control/faults", json=spec) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def stats(session, panel: Panel) -> dict:
    async with session.get(f"{panel.standin.url}/_control/stats") as response:
        return await response.json()


async def test_rate_limit_with_retry_after_then_recovery(panel, session):
    await add_fault(session, panel, route=panel.create_route, kind="rate_limit", retry_after=3, times=2)
    for _ in range(2):
        status, headers, body = await panel.create(session)
        assert status == 429 and headers["Retry-After"] == "3"
        assert headers["Content-Type"].startswith("application/json") and b"Too Many Requests" in body
    status, _, _ = await panel.create(session)
    assert status == panel.created
    counts = await stats(session, panel)
    assert (counts["accounts"], counts["create_attempts"], counts["creates_succeeded"]) == (1, 3, 1)


async def test_server_error_in_the_panels_own_format(panel, session):
    await add_fault(session, panel, route=panel.create_route, kind="error", status=500, times=1)
    status, headers, body = await panel.create(session)
    assert status == 500 and headers["Content-Type"].startswith("application/json")
    own = {RemnawaveStandIn: b'"errorCode":"A001"', MarzbanStandIn: b'"detail":"Internal Server Error"'}
    assert own.get(type(panel.standin), b"InternalServer") in body
    status, _, _ = await panel.read(session)  # another route is unaffected
    assert status == 200


async def test_bad_gateway_from_the_proxy(panel, session):
    await add_fault(session, panel, route="*", kind="error", status=503)
    for call in (panel.create, panel.read):
        status, headers, body = await call(session)
        assert status == 503 and headers["Content-Type"].startswith("text/html")
    assert (await stats(session, panel))["accounts"] == 0


async def test_outage_drops_connections_until_lifted(panel, session):
    fault = await add_fault(session, panel, route="*", kind="outage")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await panel.create(session)
    async with session.delete(f"{panel.standin.url}/_control/faults/{fault['id']}") as response:
        assert response.status == 200
    status, _, _ = await panel.create(session)
    assert status == panel.created
    counts = await stats(session, panel)
    assert (counts["accounts"], counts["create_attempts"]) == (1, 2)


async def test_outage_on_one_route_only(panel, session):
    await add_fault(session, panel, route=panel.read_route, kind="outage")
    status, _, _ = await panel.create(session)
    assert status == panel.created
    with pytest.raises(aiohttp.ClientError):
        await panel.read(session)


async def test_latency(panel, session):
    await add_fault(session, panel, route=panel.read_route, kind="latency", latency=1.5, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await panel.read(session)
    assert status == 200 and loop.time() - started >= 1.5
    started = loop.time()
    await panel.read(session)
    assert loop.time() - started < 1.0  # "times": 1 means only the first one


async def test_latency_and_error_combine(panel, session):
    await add_fault(session, panel, route=panel.create_route, kind="latency", latency=0.1)
    await add_fault(session, panel, route=panel.create_route, kind="error", status=502)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await panel.create(session)
    assert status == 502 and loop.time() - started >= 0.1


async def test_control_endpoints_list_clear_and_reset(panel, session):
    await add_fault(session, panel, route="*", kind="error", status=500)
    async with session.get(f"{panel.standin.url}/_control/faults") as response:
        assert len((await response.json())["faults"]) == 1
    async with session.post(f"{panel.standin.url}/_control/faults", json={"kind": "bogus"}) as response:
        assert response.status == 400
    async with session.post(f"{panel.standin.url}/_control/reset") as response:
        assert response.status == 200
    status, _, _ = await panel.create(session)
    assert status == panel.created
    counts = await stats(session, panel)
    assert counts["accounts"] == 1 and counts["create_attempts"] == 1
    assert counts["requests"] == {panel.create_route: 1}
