"""Plan changes with proration on the money path (issue 12.4): the value left (what was paid per
day) becomes days of the new plan; upgrades take the difference from the balance, then by an
invoice whose settlement completes the change; downgrades add days, never money; a change tapped
twice (or confirmed from two screens at once) is one change; an invoice paid too late goes to the
balance. Time passing is the subscription's expiry moved closer, as days of use would."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from common.contract.payments import CreateInvoice, PlanChange, PurchaseRef, change_refusal
from common.ipc.errors import RpcError
from tests.payments.conftest import MONTH, QUARTER, Harness

YEAR = 4


async def paid_plan(payments: Harness, plan: int, *, days_left: float, balance: str = "0") -> int:
    user = await payments.user(balance=balance)
    if Decimal(balance):
        await payments.fetchval("INSERT INTO balance_ledger (user_id, amount, kind, reference) "
                                "VALUES ($1, $2, 'admin', $3)", user, Decimal(balance), f"seed:{user}")
    invoice = await payments.app.invoicing.create(CreateInvoice(user_id=user, method="cryptobot", plan_id=plan,
                                                                request_id=uuid.uuid4().hex))
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"
    # A minute more than the days: the test's own seconds must not wear a cent off the value.
    await payments.fetchval("UPDATE subscriptions SET expires_at = now() + make_interval(secs => $2) WHERE user_id = $1",
                            user, days_left * 86400 + 60)
    return user


async def change(payments: Harness, user: int, plan: int, request_id: str = "confirm-1"):
    return await payments.app.plan_changes.change(PlanChange(user_id=user, plan_id=plan, request_id=request_id))


async def days_to_expiry(payments: Harness, user: int) -> float:
    return float(await payments.fetchval(
        "SELECT extract(epoch FROM expires_at - now()) / 86400 FROM subscriptions WHERE user_id = $1", user))


async def ledger_matches(payments: Harness) -> bool:
    return await payments.fetchval(
        """SELECT count(*) = 0 FROM users u
           WHERE u.balance <> coalesce((SELECT sum(amount) FROM balance_ledger l WHERE l.user_id = u.id), 0)""")


async def test_an_upgrade_takes_the_difference_from_the_balance(payments: Harness):
    user = await paid_plan(payments, MONTH, days_left=15, balance="10.00")    # 15 of 30 days paid 3.00: 1.50 left
    done = await change(payments, user, QUARTER)
    assert (done.state, done.plan_code, done.days, done.from_balance) == ("done", "month_3", 90, Decimal("6.50"))
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("3.50")
    assert await payments.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", user) == QUARTER
    assert 89.99 < await days_to_expiry(payments, user) <= 90.01
    change_id = done.change_id
    assert await payments.fetchval("SELECT action FROM activations WHERE idempotency_key = $1",
                                   f"change:{change_id}") == "extend"
    # Done at once: the screen that confirmed it says so (no second message).
    assert await payments.fetchval("SELECT count(*) FROM notifications WHERE idempotency_key = $1",
                                   f"change:{change_id}") == 0
    assert await ledger_matches(payments)


async def test_a_downgrade_adds_days_and_never_money(payments: Harness):
    user = await paid_plan(payments, QUARTER, days_left=45)                   # half of 8.00: 4.00 left
    done = await change(payments, user, MONTH)
    assert (done.state, done.days, done.from_balance) == ("done", 40, Decimal(0))   # 4.00 / (3.00 / 30 days)
    assert 39.99 < await days_to_expiry(payments, user) <= 40
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == 0
    assert await payments.fetchval("SELECT count(*) FROM balance_ledger WHERE user_id = $1", user) == 0

    # Changed back at once: the 4.00 went into the month plan, so it is worth 4.00 again (no more, no less).
    back = await change(payments, user, QUARTER, "confirm-2")
    assert back.state == "invoice" and back.invoice_amount == Decimal("4.00")


async def test_an_upgrade_takes_the_balance_then_an_invoice_that_completes_it(payments: Harness):
    user = await paid_plan(payments, MONTH, days_left=15, balance="2.00")
    waiting = await change(payments, user, QUARTER)
    assert (waiting.state, waiting.from_balance, waiting.invoice_amount) == ("invoice", Decimal("2.00"), Decimal("4.50"))
    assert waiting.invoice_url
    assert await payments.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", user) == MONTH
    purchase_id = await payments.fetchval("SELECT purchase_id FROM plan_changes WHERE id = $1", waiting.change_id)
    await payments.cryptopay.pay(await payments.provider_invoice_id(purchase_id))
    await payments.app.reconcile_once()
    assert await payments.status(purchase_id) == "paid"
    assert await payments.fetchval("SELECT state FROM plan_changes WHERE id = $1", waiting.change_id) == "done"
    assert await payments.fetchval("SELECT kind FROM notifications WHERE idempotency_key = $1",
                                   f"change:{waiting.change_id}") == "plan_changed"
    assert await payments.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", user) == QUARTER
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == 0
    assert 89.99 < await days_to_expiry(payments, user) <= 90
    assert await ledger_matches(payments)
    try:
        await payments.app.refunds.refund(PurchaseRef(purchase_id=purchase_id, admin_id=1))
        raise AssertionError("a plan change's payment was refunded")
    except RpcError as exc:
        assert exc.code == "bad_request"


async def test_a_change_tapped_twice_or_confirmed_twice_is_one_change(payments: Harness):
    user = await paid_plan(payments, MONTH, days_left=15, balance="30.00")
    requests = ["tap"] * 5 + [f"screen-{i}" for i in range(5)]
    outcomes = await asyncio.gather(*(change(payments, user, YEAR, r) for r in requests), return_exceptions=True)
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [change_refusal(o.message) for o in outcomes if isinstance(o, RpcError)]
    assert len({d.change_id for d in done}) == 1 and set(refused) <= {"same_plan"}
    assert await payments.fetchval("SELECT count(*) FROM plan_changes") == 1
    assert await payments.fetchval("SELECT count(*) FROM balance_ledger WHERE kind = 'purchase'") == 1
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("30.00") - (
        Decimal("27.00") - Decimal("1.50"))
    assert await ledger_matches(payments)


async def test_free_days_are_worth_nothing_but_kept(payments: Harness):
    user = await paid_plan(payments, MONTH, days_left=40, balance="30.00")    # 30 paid days + 10 given by an admin
    await payments.fetchval(
        """INSERT INTO activations (user_id, action, idempotency_key, payload)
           VALUES ($1, 'extend', 'admin:seed', '{"reason": "admin", "days": 10}')""", user)
    done = await change(payments, user, QUARTER)
    # The admin's 10 days are the latest grant: they are what is left first... and are worth nothing.
    # 40 days left = those 10 free + the last 30 paid days (3.00): 3.00 left, 5.00 to pay; the 10 days stay.
    assert done.from_balance == Decimal("5.00")
    assert 99.99 < await days_to_expiry(payments, user) <= 100.01

    trial = await payments.user()
    await payments.fetchval("INSERT INTO subscriptions (user_id, expires_at, is_trial, plan_id) "
                            "VALUES ($1, now() + interval '3 days', true, NULL)", trial)
    try:
        await change(payments, trial, QUARTER)
        raise AssertionError("a trial was changed")
    except RpcError as exc:
        assert change_refusal(exc.message) == "no_paid_plan"


async def test_an_invoice_paid_after_the_plan_changed_otherwise_goes_to_the_balance(payments: Harness):
    user = await paid_plan(payments, MONTH, days_left=15)
    first = await change(payments, user, QUARTER, "screen-a")
    second = await change(payments, user, QUARTER, "screen-b")
    assert first.state == second.state == "invoice" and first.change_id != second.change_id
    for waiting in (first, second):
        purchase_id = await payments.fetchval("SELECT purchase_id FROM plan_changes WHERE id = $1", waiting.change_id)
        await payments.cryptopay.pay(await payments.provider_invoice_id(purchase_id))
    await payments.app.reconcile_once()
    states = sorted(r["state"] for r in await payments.fetch("SELECT state FROM plan_changes"))
    assert states == ["done", "failed"]
    failed_paid = await payments.fetchval(
        "SELECT p.amount FROM plan_changes c JOIN purchases p ON p.id = c.purchase_id WHERE c.state = 'failed'")
    assert failed_paid == Decimal("6.50")
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == failed_paid
    assert await payments.fetchval("SELECT count(*) FROM notifications WHERE kind = 'plan_change_failed'") == 1
    assert await ledger_matches(payments)
    assert datetime.now(timezone.utc) + timedelta(days=89) < await payments.fetchval(
        "SELECT expires_at FROM subscriptions WHERE user_id = $1", user)
