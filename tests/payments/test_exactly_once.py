"""Acceptance: 1 000 invoices paid, each webhook delivered 3 times, concurrently and out of order,
while reconciliation runs -> exactly 1 000 settlements and 1 000 activation rows. In the same storm
200 balance top-ups are delivered three times each in shuffled order -> ledger sums that match."""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tests.payments.conftest import MONTH, Harness
from tests.support.wait import wait_for

USERS = 200
PLANS_PER_USER = 5          # 1 000 plan invoices
TOPUPS = 200


async def bounded(limit: int, coros):
    gate = asyncio.Semaphore(limit)

    async def one(coro):
        async with gate:
            return await coro
    return await asyncio.gather(*(one(c) for c in coros))


async def test_a_thousand_payments_delivered_three_times_settle_exactly_once(payments: Harness):
    rng = random.Random(5)
    users = [await payments.user() for _ in range(USERS)]
    plan_orders = [u for u in users for _ in range(PLANS_PER_USER)]
    topup_orders = [(users[i % USERS], Decimal(rng.randint(100, 5000)) / 100) for i in range(TOPUPS)]
    plans = await bounded(20, [payments.invoice(u, plan_id=MONTH) for u in plan_orders])
    topups = await bounded(20, [payments.invoice(u, topup=str(a)) for u, a in topup_orders])
    invoice_of = {r["id"]: int(r["provider_invoice_id"])
                  for r in await payments.fetch("SELECT id, provider_invoice_id FROM purchases")}
    assert len(plans) == 1000 and len(invoice_of) == 1000 + TOPUPS

    reconciling = asyncio.create_task(payments.app.reconcile_forever())
    started = time.monotonic()
    try:
        # Top-ups: every update published three times, held, then delivered in a shuffled order.
        payments.cryptopay.set_delivery(mode="shuffle", batch=3 * TOPUPS, seed=11)
        for purchase in rng.sample(topups, len(topups)):
            paid = await payments.cryptopay.pay(invoice_of[purchase.purchase_id])
            for _ in range(2):
                await payments.cryptopay.webhooks.publish_invoice_paid(paid)
        # Plans: three concurrent copies of each update, invoices paid in random order, many at once.
        payments.cryptopay.set_delivery(mode="duplicate", copies=3)
        await bounded(50, [payments.cryptopay.pay(invoice_of[p.purchase_id]) for p in rng.sample(plans, len(plans))])

        async def all_paid() -> bool:
            return await payments.fetchval("SELECT count(*) FROM purchases WHERE status = 'paid'") == 1000 + TOPUPS
        await wait_for(all_paid, timeout=90, interval=0.2, message="every invoice settled")
        assert await payments.cryptopay.wait_for_deliveries(3 * (1000 + TOPUPS), timeout=60)
    finally:
        reconciling.cancel()
        await asyncio.gather(reconciling, return_exceptions=True)
    elapsed = time.monotonic() - started

    # Exactly one settlement per invoice, whoever reported it first.
    events = await payments.fetch("SELECT provider_ref, outcome, source, purchase_id FROM payment_events")
    assert len(events) == 1000 + TOPUPS and {e["outcome"] for e in events} == {"settled"}
    assert sorted(e["purchase_id"] for e in events) == sorted(invoice_of)
    assert await payments.fetchval("SELECT count(*) FROM purchases WHERE status <> 'paid'") == 0

    # Exactly one activation row per plan invoice, none for top-ups.
    activations = await payments.fetch("SELECT idempotency_key FROM activations")
    assert len(activations) == 1000
    assert {a["idempotency_key"] for a in activations} == {f"purchase:{p.purchase_id}" for p in plans}
    now = datetime.now(timezone.utc)
    for row in await payments.fetch("SELECT expires_at FROM subscriptions"):
        assert abs(row["expires_at"] - (now + timedelta(days=30 * PLANS_PER_USER))) < timedelta(minutes=5)

    # Ledger: one row per top-up; sums match the top-ups and every user's balance.
    ledger = await payments.fetch("SELECT user_id, amount, kind, reference FROM balance_ledger")
    assert len(ledger) == TOPUPS and {r["kind"] for r in ledger} == {"topup"}
    assert sum(r["amount"] for r in ledger) == sum(a for _, a in topup_orders)
    mismatched = await payments.fetchval(
        """SELECT count(*) FROM users u
           WHERE u.balance <> coalesce((SELECT sum(amount) FROM balance_ledger l WHERE l.user_id = u.id), 0)""")
    assert mismatched == 0
    assert await payments.fetchval("SELECT count(*) FROM notifications") == 1000 + TOPUPS
    assert await payments.fetchval("SELECT count(*) FROM admin_alerts") == 0

    outcomes = Counter(d["outcome"] for d in payments.cryptopay.deliveries())
    print(f"\n{1000 + TOPUPS} invoices, {sum(outcomes.values())} deliveries {dict(outcomes)}, "
          f"settled via {dict(Counter(e['source'] for e in events))}, "
          f"webhook {payments.app.webhook.counts}, {elapsed:.1f}s")
