"""Crypto Pay stand-in: fault injection, stats and reset through the control API."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sandbox.cryptopay import CryptoPayStandIn

TOKEN = "4321:AAtestTokenForCryptoPay"


@pytest.fixture
async def cryptopay():
    async with CryptoPayStandIn(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": TOKEN}) as session:
        yield session


async def add_fault(http, cp, **spec) -> dict:
    async with http.post(f"{cp.url}/_control/faults", json=spec) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def create_invoice(http, cp):
    async with http.post(f"{cp.api_url}/createInvoice", json={"asset": "USDT", "amount": "1"}) as response:
        return response.status, response.headers, await response.read()


async def test_5xx_fault_uses_the_api_envelope_and_can_be_limited(cryptopay, http):
    await add_fault(http, cryptopay, route="createInvoice", kind="error", status=500, times=2)
    for _ in range(2):
        status, _, body = await create_invoice(http, cryptopay)
        assert status == 500 and body == b'{"ok":false,"error":{"code":500,"name":"APP_ERROR"}}'
    status, _, _ = await create_invoice(http, cryptopay)
    assert status == 200
    # A faulted request never reached the API: one invoice, three attempts.
    stats = cryptopay.stats()
    assert (stats["invoices"], stats["create_attempts"]) == (1, 3)


async def test_a_fault_can_start_after_some_requests_went_through(cryptopay, http):
    """The API answers the first two calls of a run and then goes away: `after` lets them through."""
    await add_fault(http, cryptopay, route="createInvoice", kind="error", status=503, after=2)
    statuses = [(await create_invoice(http, cryptopay))[0] for _ in range(4)]
    assert statuses == [200, 200, 503, 503]
    async with http.post(f"{cryptopay.url}/_control/faults", json={"kind": "error", "after": -1}) as response:
        assert response.status == 400


async def test_gateway_errors_come_as_proxy_html(cryptopay, http):
    await add_fault(http, cryptopay, route="*", kind="error", status=502)
    status, headers, body = await create_invoice(http, cryptopay)
    assert status == 502 and headers["Content-Type"].startswith("text/html") and b"Bad Gateway" in body


async def test_rate_limit_has_retry_after(cryptopay, http):
    await add_fault(http, cryptopay, route="createInvoice", kind="rate_limit", retry_after=7)
    status, headers, body = await create_invoice(http, cryptopay)
    assert (status, headers["Retry-After"]) == (429, "7")
    assert body == b'{"ok":false,"error":{"code":429,"name":"TOO_MANY_REQUESTS"}}'
    async with http.get(f"{cryptopay.api_url}/getMe") as response:  # other methods unaffected
        assert response.status == 200


async def test_outage_drops_the_connection(cryptopay, http):
    await add_fault(http, cryptopay, route="*", kind="outage")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await create_invoice(http, cryptopay)
    # Control stays reachable during an outage, so the test can end it.
    async with http.delete(f"{cryptopay.url}/_control/faults") as response:
        assert response.status == 200
    status, _, _ = await create_invoice(http, cryptopay)
    assert status == 200


async def test_latency_delays_the_answer(cryptopay, http):
    await add_fault(http, cryptopay, route="getMe", kind="latency", latency=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.get(f"{cryptopay.api_url}/getMe") as response:
        assert response.status == 200
    assert loop.time() - started >= 0.3
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(f"{cryptopay.api_url}/getMe", timeout=aiohttp.ClientTimeout(total=0.1)):
            pass


async def test_faults_can_be_listed_and_removed_one_by_one(cryptopay, http):
    first = await add_fault(http, cryptopay, route="getMe", kind="error", status=503)
    await add_fault(http, cryptopay, route="getInvoices", kind="error", status=500)
    async with http.get(f"{cryptopay.url}/_control/faults") as response:
        assert [f["route"] for f in (await response.json())["faults"]] == ["getMe", "getInvoices"]
    async with http.delete(f"{cryptopay.url}/_control/faults/{first['id']}") as response:
        assert response.status == 200
    async with http.get(f"{cryptopay.url}/api/getMe") as response:
        assert response.status == 200
    async with http.get(f"{cryptopay.url}/api/getInvoices") as response:
        assert response.status == 500


async def test_invalid_fault_is_refused(cryptopay, http):
    for spec in ({"kind": "meteor"}, {"kind": "error", "status": 200}, {"kind": "error", "times": 0}, {"x": 1}):
        async with http.post(f"{cryptopay.url}/_control/faults", json=spec) as response:
            assert response.status == 400, spec


async def test_reset_forgets_everything(cryptopay, http):
    await create_invoice(http, cryptopay)
    cryptopay.set_delivery(mode="drop")
    await add_fault(http, cryptopay, route="getMe", kind="error", status=500)
    async with http.post(f"{cryptopay.url}/_control/reset") as response:
        assert response.status == 200
    async with http.get(f"{cryptopay.url}/_control/stats") as response:
        stats = await response.json()
    assert stats["invoices"] == 0 and stats["requests"] == {} and stats["deliveries"] == 0
    assert cryptopay.webhooks.policy.mode == "normal"
    async with http.get(f"{cryptopay.api_url}/getMe") as response:
        assert response.status == 200
    status, _, body = await create_invoice(http, cryptopay)
    assert status == 200 and b'"invoice_id":1,' in body  # ids start over
