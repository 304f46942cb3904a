"""The webhook's life around its process: draining on SIGTERM, a database that is away, wiring."""
from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest

from common.db.database import Database
from services.payments.app import build
from tests.payments.conftest import Harness, Peers, payments_settings
from tests.payments.webhooks import post, sign, update_body
from tests.support.ports import free_port
from tests.support.wait import wait_for


async def test_drain_finishes_the_request_in_flight_and_takes_no_new_ones(payments: Harness):
    payments.cryptopay.set_webhook(None)
    user = await payments.user()
    invoice = await payments.invoice(user)
    paid = await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    body = update_body(paid)
    url = payments.webhook_url

    blocker = await asyncpg.connect(payments.url)
    try:
        # Hold the claims table so the webhook's insert of its claim waits.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE payment_claims IN SHARE MODE")
        in_flight = asyncio.create_task(post(url, body, sign(body)))

        async def waiting_on_lock() -> bool:
            return await blocker.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'payment_claims'::regclass") > 0
        await wait_for(waiting_on_lock, message="webhook waiting on the row lock")
        draining = asyncio.create_task(payments.app.server.drain())
        await wait_for(lambda: not payments.app.server.listening, message="listener closed")
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(url, body, sign(body))
        assert not in_flight.done()
        await transaction.rollback()
        status, answer = await asyncio.wait_for(in_flight, 10)
        assert (status, answer["claim"]) == (200, "recorded")
        await asyncio.wait_for(draining, 10)
    finally:
        await blocker.close()

    async def settled() -> bool:
        return await payments.status(invoice.purchase_id) == "paid"
    await wait_for(settled, message="the claim answered during the drain, confirmed and settled")


async def test_a_database_that_is_away_gets_503_and_nothing_is_lost(cryptopay, telegram):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    db = Database(dead, 2, connect_timeout=0.5)
    settings = payments_settings(dead, cryptopay.url, telegram.url, telegram.token, port=free_port())
    app = build(settings, db, Peers())
    await app.server.start()
    try:
        body = update_body({"invoice_id": 5, "status": "paid", "amount": "3", "fiat": "USD",
                            "currency_type": "fiat", "paid_asset": "USDT", "paid_amount": "3"})
        status, answer = await post(f"http://127.0.0.1:{app.server.port}/webhooks/cryptobot", body, sign(body))
        assert (status, answer["error"]) == (503, "temporarily unavailable")  # Crypto Pay will retry
    finally:
        await app.drain()
        await app.close()
