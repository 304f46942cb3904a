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


async def test_two_batches_crediting_the_same_users_in_opposite_orders_settle_everything(
        payments: Harness, monkeypatch, caplog):
    """Batch A credits users 1 then 2 while batch B credits 2 then 1: PostgreSQL breaks the
    deadlock by rolling one batch back; it is settled again one payment to a savepoint (and one
    still caught in the deadlock then, on its next try). A warning (not a traceback, which the
    process log check would fail on), and every payment settled exactly once."""
    import asyncio
    import logging

    from services.payments import settlement as settlement_module

    payments.cryptopay.set_webhook(None)
    first, second = await payments.user(), await payments.user()
    batches: list[list] = [[], []]
    for index, order in enumerate(((first, second), (second, first))):
        for user in order:
            invoice = await payments.invoice(user)
            paid = await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
            batches[index].append((invoice.purchase_id, cryptobot_payment(
                CryptoInvoice.model_validate(paid), "webhook", payments.app.settings.cryptopay)))

    # Each batch holds its first user's row until the other batch holds its own: the interleaving
    # that deadlocks, made certain instead of left to chance.
    both_hold_one = asyncio.Barrier(2)
    real_grant = settlement_module.grant_days
    granted: dict[int, int] = {}

    async def grant_then_meet(conn, user_id, *args, **kwargs):
        result = await real_grant(conn, user_id, *args, **kwargs)
        task = id(asyncio.current_task())
        granted[task] = granted.get(task, 0) + 1
        if granted[task] == 1:
            await asyncio.wait_for(both_hold_one.wait(), 10)
        return result
    monkeypatch.setattr(settlement_module, "grant_days", grant_then_meet)

    caplog.set_level(logging.WARNING, logger="services.payments.settlement")
    results = await asyncio.wait_for(asyncio.gather(
        *(payments.app.settlement.settle_many([p for _, p in batch]) for batch in batches)), 30)
    failed = [(pid, p) for batch, outcomes in zip(batches, results)
              for (pid, p), outcome in zip(batch, outcomes) if outcome is None]
    assert len(failed) <= 1, results
    assert any("concurrent one" in r.getMessage() or "settled again one by one" in r.getMessage()
               for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]

    monkeypatch.setattr(settlement_module, "grant_days", real_grant)
    for _, payment in failed:
        [retried] = await payments.app.settlement.settle_many([payment])
        assert retried.status == "settled"
    assert [await payments.status(pid) for batch in batches for pid, _ in batch] == ["paid"] * 4
    assert (await payments.counts())["settled"] == 4
