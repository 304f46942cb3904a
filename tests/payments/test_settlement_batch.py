"""Confirmed claims settle many to a transaction: one commit for the batch, and a settlement that
fails is rolled back alone while the rest of its batch commits."""
from __future__ import annotations

from dataclasses import replace

from services.payments.cryptobot_payment import cryptobot_payment
from services.payments.provider_models import CryptoInvoice
from tests.payments.conftest import Harness


async def test_one_failing_settlement_is_rolled_back_alone(payments: Harness):
    payments.cryptopay.set_webhook(None)
    batch = []
    for _ in range(3):
        user = await payments.user()
        invoice = await payments.invoice(user)
        paid = await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
        batch.append((invoice.purchase_id, cryptobot_payment(CryptoInvoice.model_validate(paid), "webhook",
                                                               payments.app.settings.cryptopay)))

    def broken(purchase):
        raise RuntimeError("a bug in one payment's check")
    payments_ = [p for _, p in batch]
    payments_[1] = replace(payments_[1], mismatch=broken)
    seen = []

    async def also(conn, outcomes):
        seen.append([o.status if o else None for o in outcomes])
        await conn.execute("INSERT INTO payments_cursors (name, position) VALUES ('batch-marker', 1)")

    outcomes = await payments.app.settlement.settle_many(payments_, also=also)
    assert [o.status if o else None for o in outcomes] == ["settled", None, "settled"] == seen[0]
    assert [await payments.status(pid) for pid, _ in batch] == ["paid", "pending", "paid"]
    assert await payments.fetchval("SELECT position FROM payments_cursors WHERE name = 'batch-marker'") == 1
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["notifications"]) == (2, 2, 2)

    # Fixed, the same payment settles on its next try.
    [retried] = await payments.app.settlement.settle_many([batch[1][1]])
    assert retried.status == "settled" and await payments.status(batch[1][0]) == "paid"


async def paid_batch(payments: Harness, users: list[int], **invoice: object) -> list[tuple[int, object]]:
    """(purchase id, Payment) for one paid invoice of each user, in that order."""
    batch = []
    for user in users:
        made = await payments.invoice(user, **invoice)
        paid = await payments.cryptopay.pay(await payments.provider_invoice_id(made.purchase_id))
        batch.append((made.purchase_id, cryptobot_payment(CryptoInvoice.model_validate(paid), "webhook",
                                                          payments.app.settings.cryptopay)))
    return batch


async def test_a_batch_settles_each_payment_once_with_what_one_by_one_settlement_writes(payments: Harness):
    """The set-based batch writes what settle_in writes for each payment: days added to an existing
    subscription (extend) or a new one (issue), the activation, the notification with the new
    expiry, the referrer's bonus; a second report of one payment in the same batch is a duplicate,
    and the same batch again changes nothing."""
    payments.cryptopay.set_webhook(None)
    referrer = await payments.user()
    renewing, new, invited = await payments.user(), await payments.user(), await payments.user(referred_by=referrer)
    async with payments.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO subscriptions (user_id, expires_at, plan_id) VALUES ($1, now() + interval '10 days', 1)", renewing)
    batch = await paid_batch(payments, [renewing, new, invited])
    twice = [p for _, p in batch] + [batch[0][1]]

    outcomes = await payments.app.settlement.settle_many(twice)
    assert [o.status for o in outcomes] == ["settled", "settled", "settled", "duplicate"]
    assert [o.purchase_id for o in outcomes] == [pid for pid, _ in batch] + [batch[0][0]]
    assert [await payments.status(pid) for pid, _ in batch] == ["paid"] * 3
    rows = await payments.fetch(
        """SELECT a.user_id, a.action, a.idempotency_key, a.payload->>'days' AS days,
                  (n.params->>'expires_at')::timestamptz = s.expires_at AS told_expiry,
                  s.expires_at > now() + interval '39 days' AS renewed_from_expiry
           FROM activations a JOIN subscriptions s USING (user_id)
           LEFT JOIN notifications n ON n.idempotency_key = 'payment:' || substr(a.idempotency_key, 10)
           WHERE a.idempotency_key LIKE 'purchase:%' ORDER BY a.id""")
    by_user = {r["user_id"]: r for r in rows}
    assert [by_user[user]["action"] for user in (renewing, new, invited)] == ["extend", "issue", "issue"]
    assert all(r["days"] == "30" and r["told_expiry"] for r in rows)
    assert by_user[renewing]["renewed_from_expiry"] and not by_user[new]["renewed_from_expiry"]
    assert await payments.fetchval("SELECT days FROM referral_bonuses WHERE invitee_id = $1", invited) == 7
    counts = await payments.counts()
    assert (counts["settled"], counts["events"], counts["activations"], counts["notifications"]) == (3, 3, 4, 4)

    again = await payments.app.settlement.settle_many([p for _, p in batch])
    assert [o.status for o in again] == ["duplicate"] * 3
    assert await payments.counts() == counts


async def test_two_batches_crediting_the_same_users_in_opposite_orders_settle_everything_at_once(
        payments: Harness, monkeypatch, caplog):
    """Batch A pays for users 1 then 2 while batch B pays for 2 then 1, both holding their purchases
    when they reach the subscriptions: the rows are written in user order, so one batch waits for
    the other instead of deadlocking, and both commit whole on their first try."""
    import asyncio
    import logging

    from services.payments import settlement as settlement_module

    payments.cryptopay.set_webhook(None)
    first, second = await payments.user(), await payments.user()
    batches = [await paid_batch(payments, [first, second]), await paid_batch(payments, [second, first])]
    both_hold_their_purchases = asyncio.Barrier(2)
    real_grant = settlement_module.grant_days_many

    async def meet_then_grant(conn, wanted):
        await asyncio.wait_for(both_hold_their_purchases.wait(), 10)
        return await real_grant(conn, wanted)
    monkeypatch.setattr(settlement_module, "grant_days_many", meet_then_grant)

    caplog.set_level(logging.WARNING, logger="services.payments.settlement")
    results = await asyncio.wait_for(asyncio.gather(
        *(payments.app.settlement.settle_many([p for _, p in batch]) for batch in batches)), 30)
    assert [[o.status for o in outcomes] for outcomes in results] == [["settled", "settled"]] * 2
    # No deadlock, no batch settled again one by one.
    assert not [r for r in caplog.records if r.name == "services.payments.settlement"]
    assert [await payments.status(pid) for batch in batches for pid, _ in batch] == ["paid"] * 4
    assert (await payments.counts())["settled"] == 4


async def test_two_batches_of_top_ups_in_opposite_orders_settle_everything(payments: Harness, monkeypatch, caplog):
    """Top-ups settle one by one (settle_in): batch A credits the balances of users 1 then 2 while
    batch B credits 2 then 1. PostgreSQL breaks the deadlock by rolling one batch back; it is settled
    again one payment to a savepoint (and one still caught in the deadlock then, on its next try). A
    warning (not a traceback, which the process log check would fail on), and every payment settled
    exactly once."""
    import asyncio
    import logging

    from common.shop import ledger

    payments.cryptopay.set_webhook(None)
    first, second = await payments.user(), await payments.user()
    batches = [await paid_batch(payments, [first, second], topup="5"),
               await paid_batch(payments, [second, first], topup="5")]

    # Each batch holds its first user's balance until the other batch holds its own: the
    # interleaving that deadlocks, made certain instead of left to chance.
    both_hold_one = asyncio.Barrier(2)
    real_apply = ledger.apply
    applied: dict[int, int] = {}

    async def apply_then_meet(conn, user_id, *args, **kwargs):
        result = await real_apply(conn, user_id, *args, **kwargs)
        task = id(asyncio.current_task())
        applied[task] = applied.get(task, 0) + 1
        if applied[task] == 1:
            await asyncio.wait_for(both_hold_one.wait(), 10)
        return result
    monkeypatch.setattr(ledger, "apply", apply_then_meet)

    caplog.set_level(logging.WARNING, logger="services.payments.settlement")
    results = await asyncio.wait_for(asyncio.gather(
        *(payments.app.settlement.settle_many([p for _, p in batch]) for batch in batches)), 30)
    failed = [(pid, p) for batch, outcomes in zip(batches, results)
              for (pid, p), outcome in zip(batch, outcomes) if outcome is None]
    assert len(failed) <= 1, results
    assert any("concurrent one" in r.getMessage() or "settled again one by one" in r.getMessage()
               for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]

    monkeypatch.setattr(ledger, "apply", real_apply)
    for _, payment in failed:
        [retried] = await payments.app.settlement.settle_many([payment])
        assert retried.status == "settled"
    assert [await payments.status(pid) for batch in batches for pid, _ in batch] == ["paid"] * 4
    assert (await payments.counts())["settled"] == 4
    assert await payments.fetchval("SELECT sum(balance) FROM users WHERE id = ANY($1)", [first, second]) == 20
