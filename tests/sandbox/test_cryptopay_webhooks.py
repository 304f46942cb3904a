"""Crypto Pay stand-in: invoice_paid webhooks, signatures, retries and misbehaviour.

The signature is checked here with our own implementation of the documented
scheme, not with the stand-in's code: HMAC-SHA-256 over the raw body, keyed
with the SHA-256 digest of the app token, hex in ``crypto-pay-api-signature``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import aiohttp
import pytest
from aiohttp import web

from sandbox.cryptopay import CryptoPayStandIn, DeliveryPolicy
from sandbox.kit.server import StandInServer
from sandbox.kit.sink import HttpSink

TOKEN = "4321:AAtestTokenForCryptoPay"
FAST = DeliveryPolicy(base_delay=0.01, max_delay=0.05, timeout=2.0, max_attempts=4)


def documented_signature_ok(token: str, raw_body: bytes, header: str) -> bool:
    secret = hashlib.sha256(token.encode()).digest()
    expected = hmac.new(secret, raw_body, hashlib.sha256).hexdigest()
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
    params = {"asset": "USDT", "amount": "5", **params}
    async with http.post(f"{cp.api_url}/createInvoice", json=params) as response:
        body = await response.json()
    assert body["ok"], body
    return body["result"]


async def test_create_list_pay_and_receive_a_signed_webhook(cryptopay, sink, http):
    invoice = await create(http, cryptopay, payload="purchase:41")
    async with http.get(f"{cryptopay.api_url}/getInvoices", params={"invoice_ids": str(invoice["invoice_id"])}) as r:
        listed = (await r.json())["result"]["items"]
    assert [i["status"] for i in listed] == ["active"]

    async with http.post(f"{cryptopay.url}/_control/invoices/{invoice['invoice_id']}/pay") as response:
        assert response.status == 200
    assert await sink.wait_for_requests(1, timeout=5)

    received = sink.received[0]
    assert received.method == "POST"
    assert received.headers["Content-Type"] == "application/json"
    signature = received.headers["crypto-pay-api-signature"]
    assert documented_signature_ok(TOKEN, received.body, signature)
    assert not documented_signature_ok(TOKEN + "x", received.body, signature)  # another app's token
    assert not documented_signature_ok(TOKEN, received.body + b" ", signature)  # any byte changed

    update = json.loads(received.body)
    assert set(update) == {"update_id", "update_type", "request_date", "payload"}
    assert update["update_type"] == "invoice_paid"
    paid = update["payload"]
    assert paid["invoice_id"] == invoice["invoice_id"] and paid["status"] == "paid"
    assert paid["payload"] == "purchase:41"
    assert (paid["paid_asset"], paid["paid_amount"]) == ("USDT", "5")
    assert paid["fee_asset"] == "USDT" and paid["fee_amount"] == "0.15"
    assert "paid_at" in paid

    async with http.get(f"{cryptopay.api_url}/getInvoices", params={"status": "paid"}) as r:
        assert [i["invoice_id"] for i in (await r.json())["result"]["items"]] == [invoice["invoice_id"]]


async def test_delivery_retries_with_backoff_until_2xx(cryptopay, sink, http):
    sink.script(500, 502, 404)
    invoice = await create(http, cryptopay)
    await cryptopay.pay(invoice["invoice_id"])
    assert await cryptopay.wait_for_deliveries(1, timeout=5)
    (delivery,) = cryptopay.deliveries()
    assert delivery["outcome"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 502, 404, 200]
    assert len(sink.received) == 4
    assert len({r.body for r in sink.received}) == 1  # every retry carries the same update
    assert all(documented_signature_ok(TOKEN, r.body, r.headers["crypto-pay-api-signature"]) for r in sink.received)


async def test_delivery_retries_after_a_timeout(sink, http):
    policy = DeliveryPolicy(base_delay=0.01, timeout=0.2, max_attempts=3)
    async with CryptoPayStandIn(token=TOKEN, webhook_url=sink.endpoint, delivery=policy) as cp:
        sink.script("hang")
        invoice = await create(http, cp)
        await cp.pay(invoice["invoice_id"])
        assert await cp.wait_for_deliveries(1, timeout=5)
        (delivery,) = cp.deliveries()
    assert delivery["outcome"] == "delivered"
    assert [a.get("status", a.get("error")) for a in delivery["attempts"]] == ["timeout", 200]


async def test_retries_are_bounded(cryptopay, sink, http):
    sink.script(*([503] * 10))
    invoice = await create(http, cryptopay)
    await cryptopay.pay(invoice["invoice_id"])
    assert await cryptopay.wait_for_deliveries(1, timeout=5)
    (delivery,) = cryptopay.deliveries()
    assert delivery["outcome"] == "failed"
    assert len(delivery["attempts"]) == FAST.max_attempts == len(sink.received)


async def test_unreachable_webhook_counts_as_failed_attempts(http):
    async with CryptoPayStandIn(token=TOKEN, delivery=FAST) as cp:
        # A port that was just free: nothing listens there.
        async with HttpSink() as gone:
            dead_url = gone.endpoint
        cp.set_webhook(dead_url)
        invoice = await create(http, cp)
        await cp.pay(invoice["invoice_id"])
        assert await cp.wait_for_deliveries(1, timeout=5)
        (delivery,) = cp.deliveries()
    assert delivery["outcome"] == "failed"
    assert all("error" in a for a in delivery["attempts"])


class BarrierReceiver(StandInServer):
    """Answers nobody until ``parties`` requests are in flight at once (or a
    deadline passes): only concurrent senders get 200s."""

    def __init__(self, parties: int, deadline: float) -> None:
        super().__init__()
        self.parties, self.deadline = parties, deadline
        self.in_flight = 0
        self.peak = 0
        self.all_arrived = asyncio.Event()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.parties:
            self.all_arrived.set()
        try:
            await asyncio.wait_for(self.all_arrived.wait(), self.deadline)
            return web.Response(text="ok")
        except asyncio.TimeoutError:
            return web.Response(status=500)
        finally:
            self.in_flight -= 1


async def test_duplicate_mode_delivers_copies_concurrently(http):
    receiver = BarrierReceiver(parties=3, deadline=2.0)
    async with receiver, CryptoPayStandIn(token=TOKEN, delivery=FAST) as cp:
        cp.set_webhook(f"{receiver.url}/hook")
        async with http.post(f"{cp.url}/_control/delivery", json={"mode": "duplicate", "copies": 3}) as response:
            assert (await response.json())["mode"] == "duplicate"
        invoice = await create(http, cp)
        await cp.pay(invoice["invoice_id"])
        async with http.get(f"{cp.url}/_control/deliveries", params={"settled": "3", "timeout": "5"}) as response:
            listing = await response.json()
    assert listing["complete"] is True
    deliveries = listing["deliveries"]
    assert len(deliveries) == 3 and receiver.peak == 3
    assert {d["copy"] for d in deliveries} == {1, 2, 3}
    assert {d["update_id"] for d in deliveries} == {deliveries[0]["update_id"]}
    assert all(d["outcome"] == "delivered" and len(d["attempts"]) == 1 for d in deliveries)


async def test_drop_mode_sends_nothing_but_the_invoice_is_paid(cryptopay, sink, http):
    cryptopay.set_delivery(mode="drop")
    invoice = await create(http, cryptopay)
    await cryptopay.pay(invoice["invoice_id"])
    assert await cryptopay.wait_for_deliveries(1, timeout=1)
    assert [d["outcome"] for d in cryptopay.deliveries()] == ["dropped"]
    assert sink.received == []
    # Only reconciliation through getInvoices can find this payment.
    async with http.get(f"{cryptopay.api_url}/getInvoices", params={"invoice_ids": str(invoice["invoice_id"])}) as r:
        assert (await r.json())["result"]["items"][0]["status"] == "paid"


async def test_shuffle_mode_delivers_out_of_order(cryptopay, sink, http):
    cryptopay.set_delivery(mode="shuffle", batch=3, seed=7)
    invoices = [await create(http, cryptopay, amount=str(n)) for n in (1, 2, 3)]
    for invoice in invoices:
        await cryptopay.pay(invoice["invoice_id"])
    assert await sink.wait_for_requests(3, timeout=5)
    arrived = [json.loads(r.body)["update_id"] for r in sink.received]
    assert sorted(arrived) == [1, 2, 3] and arrived != [1, 2, 3]


async def test_shuffle_mode_holds_updates_until_flushed(cryptopay, sink, http):
    cryptopay.set_delivery(mode="shuffle", batch=10)
    first, second = await create(http, cryptopay), await create(http, cryptopay)
    await cryptopay.pay(first["invoice_id"])
    await cryptopay.pay(second["invoice_id"])
    assert [d["outcome"] for d in cryptopay.deliveries()] == ["held", "held"]
    async with http.post(f"{cryptopay.url}/_control/delivery/flush") as response:
        assert (await response.json()) == {"flushed": 2}
    assert await sink.wait_for_requests(2, timeout=5)
    assert [json.loads(r.body)["payload"]["invoice_id"] for r in sink.received] == [
        second["invoice_id"],
        first["invoice_id"],
    ]


async def test_mismatched_payment_is_reported_as_paid(cryptopay, sink, http):
    invoice = await create(http, cryptopay, amount="10")
    async with http.post(
        f"{cryptopay.url}/_control/invoices/{invoice['invoice_id']}/pay",
        json={"paid_asset": "TON", "paid_amount": "0.5"},
    ) as response:
        assert response.status == 200
    assert await sink.wait_for_requests(1, timeout=5)
    paid = json.loads(sink.received[0].body)["payload"]
    assert (paid["asset"], paid["amount"]) == ("USDT", "10")
    assert (paid["paid_asset"], paid["paid_amount"]) == ("TON", "0.5")


async def test_fiat_invoice_is_paid_in_an_accepted_asset(cryptopay, sink, http):
    invoice = await create(http, cryptopay, currency_type="fiat", fiat="USD", amount="10", accepted_assets="TON,BTC")
    paid = await cryptopay.pay(invoice["invoice_id"])
    assert (paid["paid_asset"], paid["paid_amount"], paid["paid_fiat_rate"]) == ("TON", "2", "5")


async def test_webhook_url_can_be_changed_and_unset(cryptopay, sink, http):
    async with http.post(f"{cryptopay.url}/_control/webhook", json={"url": None}) as response:
        assert response.status == 200
    invoice = await create(http, cryptopay)
    await cryptopay.pay(invoice["invoice_id"])
    assert await cryptopay.wait_for_deliveries(1, timeout=1)
    assert cryptopay.deliveries()[0]["outcome"] == "no_webhook"
    async with http.post(f"{cryptopay.url}/_control/webhook", json={"url": sink.endpoint}) as response:
        assert response.status == 200
    other = await create(http, cryptopay)
    await cryptopay.pay(other["invoice_id"])
    assert await sink.wait_for_requests(1, timeout=5)
    assert json.loads(sink.received[0].body)["payload"]["invoice_id"] == other["invoice_id"]


async def test_bad_delivery_settings_are_refused(cryptopay, http):
    for settings in ({"mode": "sometimes"}, {"copies": 0}, {"colour": "red"}):
        async with http.post(f"{cryptopay.url}/_control/delivery", json=settings) as response:
            assert response.status == 400, settings
