"""create_invoice: a pending purchase, then the provider's invoice naming it; idempotent by request_id."""
from __future__ import annotations

import asyncio
import gc
import logging
from decimal import Decimal

import pytest

from services.payments.settings import CryptoPaySettings
from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice
from common.ipc.errors import RpcError
from tests.payments.conftest import CRYPTOPAY_TOKEN, MONTH, QUARTER, Harness
from tests.support.wait import wait_for


async def test_a_crypto_bot_invoice_is_a_pending_purchase_named_in_the_payload(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user, plan_id=QUARTER)
    assert (invoice.method, invoice.amount, invoice.currency) == ("cryptobot", Decimal("8.00"), "USD")
    [remote] = payments.cryptopay.invoices()
    assert invoice.invoice_url == remote["bot_invoice_url"]
    assert remote["payload"] == f"atcs:{invoice.purchase_id}"
    assert (remote["currency_type"], remote["fiat"], Decimal(remote["amount"])) == ("fiat", "USD", Decimal("8"))
    assert remote["accepted_assets"] == ["USDT", "TON", "BTC"] and "expiration_date" in remote
    row = (await payments.fetch("SELECT * FROM purchases WHERE id = $1", invoice.purchase_id))[0]
    assert (row["status"], row["kind"], row["days"], row["provider_invoice_id"]) == (
        "pending", "subscription", 90, str(remote["invoice_id"]))
    assert row["traffic_limit_bytes"] == 300 * 1024**3


async def test_the_same_request_id_returns_the_same_invoice_even_concurrently(payments: Harness):
    user = await payments.user()
    invoices = await asyncio.gather(*(payments.invoice(user, request_id="tap-1") for _ in range(5)))
    assert len({(i.purchase_id, i.invoice_url) for i in invoices}) == 1
    assert len(payments.cryptopay.invoices()) == 1
    assert await payments.fetchval("SELECT count(*) FROM purchases") == 1
    with pytest.raises(RpcError) as refused:
        await payments.invoice(user, plan_id=QUARTER, request_id="tap-1")
    assert refused.value.code == RpcErrorCode.CONFLICT


async def test_a_provider_outage_fails_cleanly_and_the_retry_creates_one_invoice(payments: Harness):
    user = await payments.user()
    payments.cryptopay.add_fault(route="createInvoice", kind="error", status=500, times=1)
    with pytest.raises(RpcError) as failed:
        await payments.invoice(user, request_id="r")
    assert failed.value.code == RpcErrorCode.UNAVAILABLE
    invoice = await payments.invoice(user, request_id="r")
    assert invoice.invoice_url and len(payments.cryptopay.invoices()) == 1
    assert await payments.fetchval("SELECT count(*) FROM purchases") == 1


async def test_a_stars_invoice_is_for_the_bot_to_send(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user, method="stars")
    assert (invoice.amount, invoice.currency, invoice.stars_payload) == (
        Decimal(150), "XTR", f"atcs:{invoice.purchase_id}")
    assert invoice.title and invoice.description and invoice.invoice_url is None
    assert payments.cryptopay.invoices() == []


async def test_the_payer_reads_the_invoice_in_their_language(payments: Harness):
    """Crypto Bot's pay page and Telegram's invoice show these texts to the payer, counted in their language."""
    english, russian = await payments.user(), await payments.user()
    async with payments.db.acquire() as conn:
        await conn.execute("UPDATE users SET language = 'ru' WHERE id = $1", russian)
        three_weeks = await conn.fetchval(
            """INSERT INTO plans (code, days, price, stars_price, traffic_gb, sort_order)
               VALUES ('week_3', 21, 2.00, 100, 0, 9) RETURNING id""")
    await payments.invoice(english, plan_id=three_weeks)
    await payments.invoice(russian, plan_id=three_weeks)
    await payments.invoice(russian, plan_id=QUARTER)
    await payments.invoice(russian, topup="5")
    assert sorted(remote["description"] for remote in payments.cryptopay.invoices()) == sorted([
        "VPN access, plan week_3: 21 days", "Доступ к VPN, тариф week_3: 21 день",
        "Доступ к VPN, тариф month_3: 90 дней", "Пополнение баланса: 5.00 USD"])
    stars = await payments.invoice(russian, method="stars", plan_id=three_weeks)
    assert (stars.title, stars.description) == (
        "VPN на 21 день", "Доступ к VPN на 21 день. Ключ придёт в этот чат после оплаты.")


@pytest.mark.parametrize("request_kwargs, code", [
    ({"plan_id": 999}, RpcErrorCode.NOT_FOUND),
    ({"plan_id": None, "topup_amount": None}, RpcErrorCode.BAD_REQUEST),
    ({"plan_id": MONTH, "topup_amount": Decimal("5")}, RpcErrorCode.BAD_REQUEST),
    ({"plan_id": None, "topup_amount": Decimal("0.5")}, RpcErrorCode.BAD_REQUEST),
    ({"plan_id": None, "topup_amount": Decimal("5.001")}, RpcErrorCode.BAD_REQUEST),
    ({"plan_id": None, "topup_amount": Decimal("5"), "method": "stars"}, RpcErrorCode.BAD_REQUEST),
    ({"user_id": 1}, RpcErrorCode.NOT_FOUND),
])
async def test_invalid_requests_are_refused_with_a_typed_error(payments: Harness, request_kwargs, code):
    user = await payments.user()
    body = {"user_id": user, "method": "cryptobot", "plan_id": MONTH, "request_id": "x", **request_kwargs}
    with pytest.raises(RpcError) as refused:
        await payments.app.invoicing.create(CreateInvoice(**body))
    assert refused.value.code == code
    assert payments.cryptopay.invoices() == []


async def test_a_banned_user_cannot_buy(payments: Harness):
    user = await payments.user(banned=True)
    with pytest.raises(RpcError) as refused:
        await payments.invoice(user)
    assert refused.value.code == RpcErrorCode.FORBIDDEN


async def test_crypto_priced_invoices_use_the_configured_asset(payments: Harness):
    payments.app.invoicing.cp = CryptoPaySettings(cryptopay_token=CRYPTOPAY_TOKEN, cryptopay_currency_type="crypto",
                                                  cryptopay_asset="usdt")
    user = await payments.user()
    invoice = await payments.invoice(user)
    [remote] = payments.cryptopay.invoices()
    assert (invoice.currency, remote["currency_type"], remote["asset"]) == ("USDT", "crypto", "USDT")


async def test_an_invoice_the_provider_could_not_make_closes_the_purchase_at_once(payments: Harness):
    user = await payments.user()
    payments.cryptopay.add_fault(route="createInvoice", kind="error", status=503, times=1)
    with pytest.raises(RpcError) as failed:
        await payments.invoice(user, request_id="tap-9")
    assert failed.value.code == RpcErrorCode.UNAVAILABLE  # the bot tells the user to try again
    [row] = await payments.fetch("SELECT id, status FROM purchases")
    assert row["status"] == "failed"  # closed now, not pending for the invoice's hour
    assert await payments.fetchval("SELECT count(*) FROM purchases WHERE status = 'pending'") == 0

    # Never retried, it stays closed: reconciliation has nothing to expire.
    await payments.app.reconcile_once()
    assert await payments.status(row["id"]) == "failed"

    # "Try again" repeats the request: the same purchase, open again, with one invoice.
    invoice = await payments.invoice(user, request_id="tap-9")
    assert invoice.purchase_id == row["id"] and invoice.invoice_url
    assert await payments.status(row["id"]) == "pending"
    assert len(payments.cryptopay.invoices()) == 1
    await payments.cryptopay.pay(await payments.provider_invoice_id(row["id"]))

    async def paid() -> bool:
        return await payments.status(row["id"]) == "paid"
    await wait_for(paid, message="the reopened purchase paid")


async def test_a_create_invoice_its_caller_gave_up_on_is_owned_to_its_end(payments: Harness, caplog):
    """The RPC's deadline passes while Crypto Pay is slow and then fails: the call runs on, and its
    failure is handled by Invoicing, never left as "Task exception was never retrieved"."""
    caplog.set_level(logging.WARNING)
    users = [await payments.user() for _ in range(3)]
    payments.cryptopay.add_fault(route="createInvoice", kind="latency", latency=0.3)
    payments.cryptopay.add_fault(route="createInvoice", kind="error", status=503)
    for user in users:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(payments.invoice(user), 0.05)
    await payments.app.invoicing.drain(timeout=10)
    gc.collect()  # a task nobody retrieved reports it when it is collected
    unretrieved = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert unretrieved == []
    assert [r["status"] for r in await payments.fetch("SELECT status FROM purchases")] == ["failed"] * 3
