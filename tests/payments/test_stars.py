"""Telegram Stars: pre-checkout, successful_payment keyed by charge id, getStarTransactions
reconciliation for a lost update, and refunds."""
from __future__ import annotations

from decimal import Decimal

from common.contract.payments import PurchaseRef, StarsPaid, StarsPreCheckout
from tests.payments.conftest import Harness
from tests.payments.stars_bot import pay, send_invoice


async def stars_purchase(payments: Harness, user: int | None = None):
    user = user or await payments.user()
    invoice = await payments.invoice(user, method="stars")
    await send_invoice(payments.telegram, user, invoice)
    return user, invoice


async def test_a_stars_payment_is_settled_once_by_charge_id(payments: Harness):
    user, invoice = await stars_purchase(payments)
    result = await pay(payments.telegram, payments.app, user)
    assert result["verdict"].ok and result["status"] == "paid"
    assert (result["settlement"].status, result["settlement"].purchase_id) == ("settled", invoice.purchase_id)
    row = (await payments.fetch("SELECT status, provider_charge_id, settled_via FROM purchases"))[0]
    assert tuple(row) == ("paid", result["charge_id"], "stars_update")
    assert await payments.fetchval("SELECT action FROM activations WHERE user_id = $1", user) == "issue"

    # The same update again (aiogram may hand it over twice), then a reconciliation pass.
    again = await payments.app.stars.paid(StarsPaid(
        user_id=user, payload=invoice.stars_payload, currency="XTR", total_amount=150,
        telegram_payment_charge_id=result["charge_id"]))
    assert again.status == "duplicate"
    await payments.app.reconcile_once()
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["paid"]) == (1, 1, 1)


async def test_a_successful_payment_update_that_never_arrived_is_settled_by_reconciliation(payments: Harness):
    user, invoice = await stars_purchase(payments)
    result = await pay(payments.telegram, payments.app, user, drop_update=True)
    assert result["status"] == "paid"
    assert await payments.status(invoice.purchase_id) == "pending"

    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"
    assert await payments.fetchval("SELECT source FROM payment_events") == "stars_reconcile"
    await payments.app.reconcile_once()
    # The lost update turning up late after all changes nothing either.
    late = await payments.app.stars.paid(StarsPaid(
        user_id=user, payload=invoice.stars_payload, currency="XTR", total_amount=150,
        telegram_payment_charge_id=result["charge_id"]))
    assert late.status == "duplicate"
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["notifications"]) == (1, 1, 1)
    assert await payments.fetchval("SELECT position FROM payments_cursors") == 1


async def test_pre_checkout_refuses_what_it_cannot_honour(payments: Harness):
    user, invoice = await stars_purchase(payments)
    other = await payments.user()

    async def verdict(**changes) -> bool:
        query = {"user_id": user, "payload": invoice.stars_payload, "currency": "XTR", "total_amount": 150,
                 **changes}
        return (await payments.app.stars.pre_checkout(StarsPreCheckout(**query))).ok

    assert await verdict()
    assert not await verdict(total_amount=1)
    assert not await verdict(currency="USD")
    assert not await verdict(user_id=other)
    assert not await verdict(payload="atcs:999999")
    assert not await verdict(payload="garbage")
    await payments.fetchval("UPDATE purchases SET expires_at = now() - interval '1 second'")
    assert not await verdict()


async def test_a_stars_payment_for_the_wrong_amount_is_flagged(payments: Harness):
    user, invoice = await stars_purchase(payments)
    outcome = await payments.app.stars.paid(StarsPaid(
        user_id=user, payload=invoice.stars_payload, currency="XTR", total_amount=1,
        telegram_payment_charge_id="charge-1"))
    assert outcome.status == "flagged"
    assert await payments.status(invoice.purchase_id) == "flagged"
    assert (await payments.counts())["activations"] == 0


async def test_a_stars_refund_returns_the_stars_and_revokes_the_access(payments: Harness):
    user, invoice = await stars_purchase(payments)
    result = await pay(payments.telegram, payments.app, user)
    assert result["settlement"].status == "settled"

    ref = PurchaseRef(purchase_id=invoice.purchase_id, admin_id=77)
    assert (await payments.app.refunds.refund(ref)).status == "refunded"
    assert (await payments.app.refunds.refund(ref)).status == "refunded"  # once
    refunds = [t for t in await payments.telegram.star_transactions() if t["refund"]]
    assert [t["id"] for t in refunds] == [result["charge_id"]]
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "revoked"
    actions = [r["action"] for r in await payments.fetch("SELECT action FROM activations ORDER BY id")]
    assert actions == ["issue", "revoke"]
    kinds = [r["kind"] for r in await payments.fetch("SELECT kind FROM notifications ORDER BY id")]
    assert kinds == ["payment_received", "refunded"]
    assert await payments.fetchval("SELECT count(*) FROM admin_audit WHERE admin_id = 77") == 1
    # The refund transaction in getStarTransactions is not a payment to settle.
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "refunded"
    assert await payments.fetchval("SELECT count(*) FROM balance_ledger") == 0


async def test_a_refund_of_one_of_two_purchases_takes_back_only_its_days(payments: Harness):
    user = await payments.user()
    purchases = []
    for _ in range(2):
        _, invoice = await stars_purchase(payments, user)
        await pay(payments.telegram, payments.app, user)
        purchases.append(invoice.purchase_id)
    before = await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user)
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[0]))
    row = (await payments.fetch("SELECT expires_at, status FROM subscriptions WHERE user_id = $1", user))[0]
    assert row["status"] == "active" and (before - row["expires_at"]).days == 30
    assert await payments.fetchval("SELECT action FROM activations ORDER BY id DESC LIMIT 1") == "extend"
    assert Decimal(await payments.fetchval("SELECT count(*) FROM purchases WHERE status = 'paid'")) == 1
