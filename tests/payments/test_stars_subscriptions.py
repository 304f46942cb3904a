"""Telegram Stars subscriptions (issue 13.1) and refunds that revoke (13.2), on the Telegram
stand-in's clock: every charge of a subscription settles once through the one settlement
function, a cancelled or unpaid renewal lets the access end at expiry with the usual reminders,
and a refund (an admin's, a refunded_payment, or one seen only in getStarTransactions) takes back
exactly the days its payment bought."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice, PurchaseRef, StarsRefunded, StarSubscriptionEdit
from common.ipc.errors import RpcError
from services.scheduler.jobs.expiry_cleanup import expire_subscriptions
from services.scheduler.jobs.reminders import send_reminders
from tests.payments.conftest import MONTH, Harness
from tests.payments.stars_bot import forward_updates, subscribe, subscription_link
from tests.support.wait import wait_for

MONTH_SECONDS = 2592000


async def subscribed(payments: Harness, *, copies: int = 1) -> tuple[int, dict]:
    user = await payments.user()
    invoice = await payments.app.invoicing.create(CreateInvoice(
        user_id=user, method="stars", plan_id=MONTH, request_id=f"monthly:{user}", recurring=True))
    url = await subscription_link(payments.telegram, invoice)
    result = await subscribe(payments.telegram, payments.app, user, url, copies=copies)
    assert result["status"] == "paid", result
    result["invoice"] = invoice
    return user, result


async def renew(payments: Harness, *, copies: int = 1) -> tuple[list, list]:
    advanced = await payments.telegram.advance_clock(MONTH_SECONDS, copies=copies)
    return advanced["events"], await forward_updates(payments.telegram, payments.app)


async def expiry(payments: Harness, user: int):
    return await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user)


async def test_three_renewals_settle_once_each_though_every_update_comes_twice(payments: Harness):
    user, first = await subscribed(payments, copies=2)
    assert [s.status for s in first["settlements"]] == ["settled", "duplicate"]
    start = await expiry(payments, user)
    for _ in range(3):
        events, outcomes = await renew(payments, copies=2)
        assert [e["status"] for e in events] == ["renewed"]
        assert [o.status for o in outcomes] == ["settled", "duplicate"]
    # Reconciliation reads the same four charges in getStarTransactions: nothing more.
    await payments.app.reconcile_once()
    await payments.app.reconcile_once()

    counts = await payments.counts()
    assert (counts["paid"], counts["settled"], counts["activations"]) == (4, 4, 4)
    assert (await expiry(payments, user) - start) == timedelta(days=90)
    rows = await payments.fetch("SELECT renewal_of, recurring, provider_charge_id FROM purchases ORDER BY id")
    first_id = first["invoice"].purchase_id
    assert [r["renewal_of"] for r in rows] == [None, first_id, first_id, first_id]
    charges = [t["id"] for t in await payments.telegram.star_transactions()]
    assert [r["provider_charge_id"] for r in rows] == charges
    sub = (await payments.fetch("SELECT charge_id, renewals, canceled, period_end FROM star_subscriptions"))[0]
    assert (sub["charge_id"], sub["renewals"], sub["canceled"]) == (charges[0], 3, False)
    telegram_sub = (await payments.telegram.star_subscriptions(user))[0]
    assert int(sub["period_end"].timestamp()) == telegram_sub["expires_at"]
    kinds = [r["kind"] for r in await payments.fetch("SELECT kind FROM notifications ORDER BY id")]
    assert kinds == ["payment_received"] * 4


async def test_a_renewal_only_in_get_star_transactions_is_settled_by_reconciliation(payments: Harness):
    user, _ = await subscribed(payments)
    start = await expiry(payments, user)
    events, outcomes = await renew(payments, copies=0)   # the update is lost
    assert events[0]["status"] == "renewed" and outcomes == []
    await payments.app.reconcile_once()
    assert (await expiry(payments, user) - start) == timedelta(days=30)
    assert await payments.fetchval("SELECT source FROM payment_events ORDER BY received_at DESC LIMIT 1") \
        == "stars_reconcile"
    assert await payments.fetchval("SELECT renewals FROM star_subscriptions") == 1


async def test_cancelled_renewal_ends_the_access_at_expiry_with_the_usual_reminders(payments: Harness):
    user, _ = await subscribed(payments)
    state = await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=True))
    assert state.canceled
    assert (await payments.telegram.star_subscriptions(user))[0]["canceled_by_bot"]
    # Re-enabled and cancelled again: Telegram follows each switch.
    await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=False))
    assert not (await payments.telegram.star_subscriptions(user))[0]["canceled_by_bot"]
    await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=True))

    events, outcomes = await renew(payments)
    assert events == [{"subscription_id": events[0]["subscription_id"], "user_id": user, "status": "ended",
                       "reason": "canceled"}]
    assert outcomes == []
    await payments.app.reconcile_once()
    assert (await payments.counts())["paid"] == 1
    await _ends_at_expiry(payments, user)


async def test_an_empty_stars_balance_means_no_renewal_and_the_access_ends_at_expiry(payments: Harness):
    user, _ = await subscribed(payments)
    await payments.telegram.set_stars(user, 10)
    events, outcomes = await renew(payments)
    assert (events[0]["status"], events[0]["reason"], outcomes) == ("ended", "missing_balance", [])
    await payments.app.reconcile_once()
    assert (await payments.counts())["paid"] == 1
    # Before the charge nobody knew it would fail: the user was told it renews by itself (and to
    # keep the Stars for it), never to renew.
    await _ends_at_expiry(payments, user, told="stars_renews")
    # An ended subscription cannot be switched any more.
    with pytest.raises(RpcError) as refused:
        await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=True))
    assert refused.value.code == RpcErrorCode.CONFLICT


async def _ends_at_expiry(payments: Harness, user: int, told: str = "expiry_reminder") -> None:
    expires_at = await expiry(payments, user)
    reminded = await send_reminders(payments.db, expires_at - timedelta(days=2), days=[3, 1], auto_renew_days=1,
                                    batch=100)
    assert reminded.notifications == 1
    early = await expire_subscriptions(payments.db, expires_at - timedelta(seconds=1), batch=100)
    assert early.activations == 0   # the paid period is the user's to the end
    ended = await expire_subscriptions(payments.db, expires_at + timedelta(seconds=1), batch=100)
    assert ended.activations == 1
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "expired"
    assert await payments.fetchval("SELECT action FROM activations ORDER BY id DESC LIMIT 1") == "expire"
    kinds = [r["kind"] for r in await payments.fetch("SELECT kind FROM notifications ORDER BY id")]
    assert kinds[-2:] == [told, "subscription_expired"]


async def _three_payments(payments: Harness) -> tuple[int, list[int], list[str]]:
    user, _ = await subscribed(payments)
    for _ in range(2):
        await renew(payments)
    rows = await payments.fetch("SELECT id, provider_charge_id FROM purchases WHERE status = 'paid' ORDER BY id")
    assert len(rows) == 3
    return user, [r["id"] for r in rows], [r["provider_charge_id"] for r in rows]


async def test_refunding_the_second_of_three_payments_takes_back_exactly_its_30_days(payments: Harness):
    user, purchases, charges = await _three_payments(payments)
    before = await expiry(payments, user)
    ref = PurchaseRef(purchase_id=purchases[1], admin_id=77)
    assert (await payments.app.refunds.refund(ref)).status == "refunded"
    assert (await payments.app.refunds.refund(ref)).status == "refunded"   # the admin taps again
    # Telegram's refunded_payment for our own refund, then reconciliation meeting it: nothing more.
    echoes = await forward_updates(payments.telegram, payments.app)
    assert [e.status for e in echoes] == ["refunded"]
    await payments.app.reconcile_once()

    assert before - await expiry(payments, user) == timedelta(days=30)
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "active"
    assert [t["id"] for t in await payments.telegram.star_transactions() if t["refund"]] == [charges[1]]
    refund = (await payments.fetch("SELECT purchase_id, source, admin_id, days_taken, revoked FROM payment_refunds"))
    assert [tuple(r) for r in refund] == [(purchases[1], "admin", 77, 30, False)]
    assert await payments.fetchval("SELECT action FROM activations ORDER BY id DESC LIMIT 1") == "extend"
    assert await payments.fetchval(
        "SELECT count(*) FROM admin_audit WHERE admin_id = 77 AND action = 'refund' AND target = $1",
        f"purchase:{purchases[1]}") == 1
    notice = (await payments.fetch("SELECT params FROM notifications WHERE kind = 'refunded'"))
    assert len(notice) == 1

    # The key is disabled only when nothing is left: after the first and third go too.
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[0], admin_id=77))
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "active"
    assert "revoke" not in [r["action"] for r in await payments.fetch("SELECT action FROM activations")]
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[2], admin_id=77))
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "revoked"
    assert await payments.fetchval("SELECT action FROM activations ORDER BY id DESC LIMIT 1") == "revoke"
    assert await payments.fetchval("SELECT count(*) FROM payment_refunds") == 3
    assert await payments.fetchval("SELECT bool_or(revoked) FROM payment_refunds WHERE purchase_id = $1",
                                   purchases[2])


async def test_a_chargeback_seen_only_in_get_star_transactions_takes_back_its_days(payments: Harness):
    user, purchases, charges = await _three_payments(payments)
    await payments.app.reconcile_once()
    before = await expiry(payments, user)
    await payments.telegram.chargeback(user, charges[1], silent=True)
    assert await forward_updates(payments.telegram, payments.app) == []   # the bot heard nothing

    await payments.app.reconcile_once()
    await payments.app.reconcile_once()
    assert before - await expiry(payments, user) == timedelta(days=30)
    assert await payments.status(purchases[1]) == "refunded"
    rows = await payments.fetch("SELECT purchase_id, source, admin_id, days_taken FROM payment_refunds")
    assert [tuple(r) for r in rows] == [(purchases[1], "star_transactions", None, 30)]
    assert await payments.fetchval("SELECT count(*) FROM admin_alerts WHERE kind = 'payment_chargeback'") == 1
    assert await payments.fetchval("SELECT count(*) FROM notifications WHERE kind = 'refunded'") == 1
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "active"


async def test_a_chargeback_as_a_refunded_payment_update_takes_back_its_days_once(payments: Harness):
    user, purchases, charges = await _three_payments(payments)
    before = await expiry(payments, user)
    await payments.telegram.chargeback(user, charges[2])
    outcomes = await forward_updates(payments.telegram, payments.app)
    assert [(o.purchase_id, o.status) for o in outcomes] == [(purchases[2], "refunded")]
    await payments.app.reconcile_once()   # the refund in getStarTransactions: already done
    assert before - await expiry(payments, user) == timedelta(days=30)
    assert await payments.fetchval("SELECT source FROM payment_refunds") == "refunded_payment"
    # An admin refunding it afterwards finds it done; Telegram would refuse a second refund.
    state = await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[2], admin_id=5))
    assert state.status == "refunded"
    assert await payments.fetchval("SELECT count(*) FROM payment_refunds") == 1
    assert before - await expiry(payments, user) == timedelta(days=30)


async def test_a_refunded_payment_for_a_charge_we_never_saw_changes_nothing(payments: Harness):
    user = await payments.user()
    state = await payments.app.refunds.stars_refunded(StarsRefunded(
        user_id=user, telegram_payment_charge_id="stxm-nobody", total_amount=150, payload="atcs:1"))
    assert state.status == "unknown"
    garbage = await payments.app.refunds.stars_refunded(StarsRefunded(
        user_id=user, telegram_payment_charge_id="", total_amount=150))
    assert garbage.status == "unknown"
    assert await payments.fetchval("SELECT count(*) FROM payment_refunds") == 0


async def test_a_crypto_bot_refund_goes_to_the_balance_and_takes_back_the_days(payments: Harness):
    user = await payments.user()
    purchase_ids = []
    for _ in range(2):
        invoice = await payments.invoice(user)
        await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
        purchase_ids.append(invoice.purchase_id)
    await wait_for(lambda: payments.fetchval("SELECT count(*) = 2 FROM purchases WHERE status = 'paid'"), timeout=10)
    before = await expiry(payments, user)
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchase_ids[0], admin_id=9))
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchase_ids[0], admin_id=9))
    assert before - await expiry(payments, user) == timedelta(days=30)
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("3.00")
    assert await payments.fetchval("SELECT count(*) FROM balance_ledger WHERE kind = 'refund'") == 1
    row = (await payments.fetch("SELECT provider, source, admin_id, days_taken FROM payment_refunds"))[0]
    assert tuple(row) == ("cryptobot", "admin", 9, 30)
    assert await payments.fetchval("SELECT count(*) FROM admin_audit WHERE action = 'refund'") == 1


@pytest.mark.parametrize("change", [{"method": "cryptobot"}, {"gift": True}, {"promo_code": "X"}, {"plan_id": 2}])
async def test_only_a_30_day_stars_plan_for_oneself_is_sold_as_a_subscription(payments: Harness, change: dict):
    user = await payments.user()
    request = {"user_id": user, "method": "stars", "plan_id": MONTH, "request_id": "sub", "recurring": True, **change}
    with pytest.raises(RpcError) as refused:
        await payments.app.invoicing.create(CreateInvoice(**request))
    assert refused.value.code == RpcErrorCode.BAD_REQUEST
