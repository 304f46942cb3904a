"""What a Telegram Stars subscriber is told before Telegram renews the subscription, and what a
refund of one of its charges does to the renewal (issue 13.1/13.2), on the Telegram stand-in's
clock with the scheduler's reminder job and payments' renewal-cancel worker.

- An active subscription (not cancelled) is never told to renew: one notice before the charge
  says it renews by itself on that date for that many Stars; no expiry reminder, and no renewal
  from the balance on top of Telegram's. Cancelled, it gets the usual reminders; paused, nothing.
- A refund of any of its charges (an admin's, a refunded_payment, one seen only in
  getStarTransactions) cancels the renewal: Telegram is told (editUserStarSubscription), retried
  while it is unreachable, once however many charges are refunded; the user is told, the renewal
  cannot be switched back on, and the usual expiry reminders apply again.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from common.contract.base import RpcErrorCode
from common.contract.payments import PurchaseRef, StarSubscriptionEdit
from common.ipc.errors import RpcError
from common.shop.freeze import Freeze, freeze
from services.scheduler.jobs.auto_renewal import renew_from_balance
from services.scheduler.jobs.reminders import send_reminders
from tests.payments.conftest import Harness
from tests.payments.stars_bot import forward_updates
from tests.payments.test_stars_subscriptions import subscribed
from tests.support.wait import wait_for

DAY = 86400


def telegram_now(payments: Harness) -> datetime:
    """The stand-in's clock: Telegram's, which the tests move; the scheduler's jobs run on it."""
    return datetime.fromtimestamp(payments.telegram.world.now(), UTC)


async def period_end(payments: Harness, user: int) -> datetime:
    return await payments.fetchval("SELECT period_end FROM star_subscriptions WHERE user_id = $1", user)


async def move_to(payments: Harness, moment: datetime) -> datetime:
    await payments.telegram.advance_clock(int((moment - telegram_now(payments)).total_seconds()))
    return telegram_now(payments)


async def remind(payments: Harness, now: datetime) -> int:
    """The scheduler's reminder job as timed.py runs it (reminders 3 and 1 days before)."""
    outcome = await send_reminders(payments.db, now, days=[3, 1], auto_renew_days=1, batch=100)
    return outcome.notifications


async def notices(payments: Harness, user: int) -> list[tuple[str, dict]]:
    rows = await payments.fetch("SELECT kind, params FROM notifications WHERE user_id = $1 ORDER BY id", user)
    return [(r["kind"], orjson.loads(r["params"])) for r in rows]


async def test_an_active_stars_subscription_is_told_it_renews_by_itself_never_to_renew(payments: Harness):
    user, _ = await subscribed(payments)
    for _ in range(2):
        renews_at = await period_end(payments, user)
        expires_at = await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user)
        assert abs(expires_at - renews_at) < timedelta(minutes=1)   # in both reminder windows at once
        assert await remind(payments, await move_to(payments, renews_at - timedelta(days=2))) == 1
        assert await remind(payments, telegram_now(payments)) == 0          # once per period
        assert await remind(payments, await move_to(payments, renews_at - timedelta(hours=12))) == 0
        renewed = await payments.telegram.renew_now(user)
        assert [e["status"] for e in renewed["events"]] == ["renewed"]
        assert [o.status for o in await forward_updates(payments.telegram, payments.app)] == ["settled"]

    told = await notices(payments, user)
    assert [kind for kind, _ in told] == ["payment_received", "stars_renews"] * 2 + ["payment_received"]
    first, second = (params for kind, params in told if kind == "stars_renews")
    assert first["amount"] == second["amount"] == 150
    assert datetime.fromisoformat(second["renews_at"]) - datetime.fromisoformat(first["renews_at"]) \
        == timedelta(days=30)

    # Cancelled: the usual reminders, and no word of a renewal that will not come.
    await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=True))
    renews_at = await period_end(payments, user)
    assert await remind(payments, await move_to(payments, renews_at - timedelta(days=2))) == 1
    assert await remind(payments, await move_to(payments, renews_at - timedelta(hours=12))) == 1
    assert [kind for kind, _ in (await notices(payments, user))[-2:]] == ["expiry_reminder"] * 2


async def test_a_paused_stars_subscription_is_told_nothing(payments: Harness):
    user, _ = await subscribed(payments)
    renews_at = await period_end(payments, user)
    now = await move_to(payments, renews_at - timedelta(days=10))
    async with payments.db.transaction() as conn:
        paused = await freeze(conn, user, 15, now=now, days_per_year=30)
    assert isinstance(paused, Freeze)
    for before in (timedelta(days=2), timedelta(hours=12)):
        assert await remind(payments, await move_to(payments, renews_at - before)) == 0
    assert [kind for kind, _ in await notices(payments, user)] == ["payment_received"]


async def test_the_balance_does_not_renew_what_telegram_renews(payments: Harness):
    user, _ = await subscribed(payments)
    async with payments.db.acquire() as conn:
        await conn.execute("UPDATE users SET balance = 100 WHERE id = $1", user)
        await conn.execute("UPDATE subscriptions SET auto_renew = true WHERE user_id = $1", user)
    renews_at = await period_end(payments, user)
    now = await move_to(payments, renews_at - timedelta(hours=12))       # inside the 1-day renewal window
    assert (await renew_from_balance(payments.db, now, days_before=1, currency="USD", batch=100)).renewed == 0
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("100")
    # Once the Stars renewal is cancelled, the balance renews it as it would any plan.
    await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=True))
    assert (await renew_from_balance(payments.db, now, days_before=1, currency="USD", batch=100)).renewed == 1
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("97.00")


# --- a refund cancels the renewal -----------------------------------------------------------------

async def _two_charges(payments: Harness) -> tuple[int, list[int], list[str]]:
    user, _ = await subscribed(payments)
    await payments.telegram.renew_now(user)
    await forward_updates(payments.telegram, payments.app)
    rows = await payments.fetch("SELECT id, provider_charge_id FROM purchases WHERE status = 'paid' ORDER BY id")
    assert len(rows) == 2
    return user, [r["id"] for r in rows], [r["provider_charge_id"] for r in rows]


async def _cancel_done(payments: Harness) -> dict:
    async def done():
        row = await payments.fetch("SELECT state, attempts, last_error, refund_of FROM star_renewal_cancels")
        return dict(row[0]) if row and row[0]["state"] != "pending" else None
    return await wait_for(done, timeout=10, message="the renewal cancel worked")


async def _renewal_is_off(payments: Harness, user: int, refunded: int) -> None:
    """Telegram stops charging, the user is told, and the renewal stays off."""
    telegram_sub = (await payments.telegram.star_subscriptions(user))[0]
    assert telegram_sub["canceled_by_bot"]
    edits = await payments.telegram.calls("editUserStarSubscription")
    assert [(c["params"]["is_canceled"], c["status"]) for c in edits] == [(True, 200)]
    sub = (await payments.fetch("SELECT canceled, canceled_by_refund FROM star_subscriptions"))[0]
    assert (sub["canceled"], sub["canceled_by_refund"]) == (True, refunded)
    refund_notice = [params for kind, params in await notices(payments, user) if kind == "refunded"]
    assert refund_notice[0]["renewal_canceled"] is True
    with pytest.raises(RpcError) as refused:
        await payments.app.star_subscriptions.edit(StarSubscriptionEdit(user_id=user, cancel=False))
    assert refused.value.code == RpcErrorCode.CONFLICT
    assert (await payments.telegram.star_subscriptions(user))[0]["canceled_by_bot"]

    paid = (await payments.counts())["paid"]
    ended = await payments.telegram.renew_now(user)
    assert [(e["status"], e["reason"]) for e in ended["events"]] == [("ended", "canceled")]
    assert await forward_updates(payments.telegram, payments.app) == []
    await payments.app.reconcile_once()
    assert (await payments.counts())["paid"] == paid      # no charge after the refund


async def test_an_admin_refund_of_a_charge_cancels_the_renewal(payments: Harness):
    user, purchases, _ = await _two_charges(payments)
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[1], admin_id=77))
    await forward_updates(payments.telegram, payments.app)      # Telegram's echo: nothing more
    cancel = await _cancel_done(payments)
    assert (cancel["state"], cancel["attempts"], cancel["refund_of"]) == ("done", 1, purchases[1])
    # The usual expiry reminders apply again: the access ends where the refund left it.
    expires_at = await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user)
    assert await remind(payments, expires_at - timedelta(days=2)) == 1
    assert (await notices(payments, user))[-1][0] == "expiry_reminder"
    await _renewal_is_off(payments, user, purchases[1])


async def test_a_refunded_payment_chargeback_cancels_the_renewal_once_for_two_charges(payments: Harness):
    user, purchases, charges = await _two_charges(payments)
    for charge in reversed(charges):
        await payments.telegram.chargeback(user, charge)
    outcomes = await forward_updates(payments.telegram, payments.app)
    assert [(o.purchase_id, o.status) for o in outcomes] == [(purchases[1], "refunded"), (purchases[0], "refunded")]
    cancel = await _cancel_done(payments)
    assert (cancel["state"], cancel["refund_of"]) == ("done", purchases[1])
    assert await payments.fetchval("SELECT count(*) FROM star_renewal_cancels") == 1
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "revoked"
    await _renewal_is_off(payments, user, purchases[1])


async def test_a_chargeback_seen_only_in_get_star_transactions_cancels_the_renewal(payments: Harness):
    user, purchases, charges = await _two_charges(payments)
    await payments.telegram.chargeback(user, charges[0], silent=True)
    assert await forward_updates(payments.telegram, payments.app) == []
    await payments.app.reconcile_once()
    assert await payments.fetchval("SELECT source FROM payment_refunds") == "star_transactions"
    assert (await _cancel_done(payments))["state"] == "done"
    await _renewal_is_off(payments, user, purchases[0])


async def test_the_cancel_is_retried_while_telegram_is_unreachable(payments: Harness):
    user, purchases, _ = await _two_charges(payments)
    await payments.telegram.add_fault("editUserStarSubscription", status=502, count=2)
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[1], admin_id=77))
    cancel = await _cancel_done(payments)
    assert (cancel["state"], cancel["attempts"], cancel["last_error"]) == ("done", 3, None)
    statuses = [c["status"] for c in await payments.telegram.calls("editUserStarSubscription")]
    assert statuses == [502, 502, 200]
    assert (await payments.telegram.star_subscriptions(user))[0]["canceled_by_bot"]


async def test_a_cancel_telegram_refuses_alerts_the_admins(payments: Harness):
    user, purchases, _ = await _two_charges(payments)
    await payments.telegram.add_fault("editUserStarSubscription", status=400, description="Bad Request: USER_ID_INVALID",
                                      count=1)
    await payments.app.refunds.refund(PurchaseRef(purchase_id=purchases[0], admin_id=77))
    cancel = await _cancel_done(payments)
    assert cancel["state"] == "failed" and "USER_ID_INVALID" in cancel["last_error"]
    alert = await payments.fetchval("SELECT detail FROM admin_alerts WHERE kind = 'stars_renewal_cancel_failed'")
    assert orjson.loads(alert)["user_id"] == user
    assert not (await payments.telegram.star_subscriptions(user))[0]["canceled_by_bot"]
