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
