"""Crypto Pay stand-in as awkward as the real thing: a correctly signed invoice_paid for an invoice
that is not paid, an old delivery sent again days later, and an API that is away for a while and
comes back by itself. Driven through the control API, as a test in another process would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp
import pytest

from sandbox.cryptopay import CryptoPayStandIn, DeliveryPolicy
from sandbox.kit.sink import HttpSink
from tests.support.wait import wait_for

TOKEN = "4321:AAtestTokenForCryptoPay"
FAST = DeliveryPolicy(base_delay=0.01, max_delay=0.05, timeout=2.0, max_attempts=4)


def signed_by_the_app(raw_body: bytes, header: str) -> bool:
    expected = hmac.new(hashlib.sha256(TOKEN.encode()).digest(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


@pytest.fixture
async def sink():
    async with HttpSink("/webhooks/cryptobot") as receiver:
        yield receiver


@pytest.fixture
async def cryptopay(sink):
    async with CryptoPayStandIn(token=TOKEN, webhook_url=sink.endpoint, delivery=FAST) as standin:
        yield standin


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": TOKEN}) as session:
        yield session


async def create(http, cp, **params) -> dict:
    params = {"currency_type": "fiat", "fiat": "USD", "amount": "3", **params}
    async with http.post(f"{cp.api_url}/createInvoice", json=params) as response:
        body = await response.json()
    assert body["ok"], body
    return body["result"]


async def status_of(http, cp, invoice_id: int) -> str:
    async with http.post(f"{cp.api_url}/getInvoices", json={"invoice_ids": str(invoice_id)}) as response:
        return (await response.json())["result"]["items"][0]["status"]


async def test_a_forged_claim_is_signed_like_a_real_one_while_the_invoice_stays_active(cryptopay, sink, http):
    invoice = await create(http, cryptopay, payload="atcs:7")
    async with http.post(f"{cryptopay.url}/_control/invoices/{invoice['invoice_id']}/forge_paid",
                         json={"claim": {"amount": "0.01"}}) as response:
        assert response.status == 200, await response.text()
    assert await sink.wait_for_requests(1, timeout=5)
    received = sink.received[0]
    assert signed_by_the_app(received.body, received.headers["crypto-pay-api-signature"])
    update = json.loads(received.body)
    claimed = update["payload"]
    assert update["update_type"] == "invoice_paid"
    assert (claimed["invoice_id"], claimed["status"], claimed["amount"]) == (invoice["invoice_id"], "paid", "0.01")
    assert claimed["paid_asset"] == "USDT" and claimed["payload"] == "atcs:7" and "paid_at" in claimed
    # The provider's own record is the truth: still active, and still payable.
    assert await status_of(http, cryptopay, invoice["invoice_id"]) == "active"
    await cryptopay.pay(invoice["invoice_id"])
    assert await status_of(http, cryptopay, invoice["invoice_id"]) == "paid"


async def test_an_old_delivery_is_sent_again_with_its_old_date_or_dated_and_signed_anew(cryptopay, sink, http):
    invoice = await create(http, cryptopay)
    await cryptopay.pay(invoice["invoice_id"])
    assert await sink.wait_for_requests(1, timeout=5)
    first = sink.received[0]
    cryptopay.advance_time(3 * 86400)  # three days on: Crypto Pay's last retry

    async with http.post(f"{cryptopay.url}/_control/deliveries/1/replay") as response:
        assert response.status == 200
        again = (await response.json())["delivery_id"]
    async with http.post(f"{cryptopay.url}/_control/deliveries/1/replay",
                         json={"request_date": "2024-12-29T00:00:00.000Z"}) as response:
        dated = (await response.json())["delivery_id"]
    assert await sink.wait_for_requests(3, timeout=5)
    by_body = {r.body: r for r in sink.received[1:]}
    assert first.body in by_body  # the very same bytes and signature
    assert by_body[first.body].headers["crypto-pay-api-signature"] == first.headers["crypto-pay-api-signature"]
    [redated] = [r for r in sink.received[1:] if r.body != first.body]
    assert json.loads(redated.body)["request_date"] == "2024-12-29T00:00:00.000Z"
    assert json.loads(redated.body)["payload"] == json.loads(first.body)["payload"]
    assert signed_by_the_app(redated.body, redated.headers["crypto-pay-api-signature"])
    deliveries = {d["delivery_id"]: d for d in cryptopay.deliveries()}
    assert {deliveries[again]["mode"], deliveries[dated]["mode"]} == {"replay"}
    async with http.post(f"{cryptopay.url}/_control/deliveries/99/replay") as response:
        assert response.status == 404


async def test_the_api_refuses_connections_for_a_while_then_comes_back_by_itself(cryptopay, http):
    invoice = await create(http, cryptopay)
    async with http.post(f"{cryptopay.url}/_control/outage", json={"seconds": 1.0, "kind": "refuse"}) as response:
        assert (await response.json())["kind"] == "refuse"
    started = time.monotonic()
    # A fresh client, as after a reconnect: nothing listens.
    async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": TOKEN}) as fresh:
        with pytest.raises(aiohttp.ClientConnectionError):
            await status_of(fresh, cryptopay, invoice["invoice_id"])
    # A connection kept alive from before gets no answer either.
    with pytest.raises(aiohttp.ClientConnectionError):
        await status_of(http, cryptopay, invoice["invoice_id"])

    async def back() -> bool:
        async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": TOKEN}) as fresh:
            return await status_of(fresh, cryptopay, invoice["invoice_id"]) == "active"
    await wait_for(back, timeout=10, message="the API back after its outage")
    assert time.monotonic() - started >= 0.9
    assert cryptopay.stats()["outages"] == 0


@pytest.mark.parametrize("spec, expected", [
    ({"kind": "slow", "latency": 0.6}, "slow"),
    ({"kind": "error", "status": 503}, 503),
    ({"kind": "rate_limit", "retry_after": 2}, 429),
])
async def test_the_api_is_slow_or_failing_for_a_while(cryptopay, http, spec, expected):
    invoice = await create(http, cryptopay)
    await cryptopay.outage(1.0, **spec)
    started = time.monotonic()
    async with http.post(f"{cryptopay.api_url}/getInvoices",
                         json={"invoice_ids": str(invoice["invoice_id"])}) as response:
        status = response.status
        await response.read()
    if expected == "slow":
        assert status == 200 and time.monotonic() - started >= 0.6
    else:
        assert status == expected
        if status == 429:
            assert response.headers["Retry-After"] == "2"
    await wait_for(lambda: cryptopay.stats()["outages"] == 0, timeout=10, message="the outage over")
    assert await status_of(http, cryptopay, invoice["invoice_id"]) == "active"


async def test_bad_outage_requests_are_refused(cryptopay, http):
    for spec in ({"seconds": 1, "kind": "sometimes"}, {"seconds": 0}, {"kind": "slow"}, {"seconds": 1, "colour": 1}):
        async with http.post(f"{cryptopay.url}/_control/outage", json=spec) as response:
            assert response.status == 400, spec
    await cryptopay.outage(5, "refuse")
    with pytest.raises(ValueError):
        await cryptopay.outage(5, "refuse")
