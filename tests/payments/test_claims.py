"""A signed invoice_paid is a claim; Crypto Pay's getInvoices is the proof (issue 10.2).

The Crypto Pay stand-in signs every update with the app token, forged ones too (`forge_paid`), re-sends
old deliveries (`replay`) and goes away for a while (`outage`): the claim is stored and answered at
once, credited only once Crypto Pay confirms it, retried while Crypto Pay is away, and a claim Crypto
Pay contradicts credits nothing and reaches the admins once.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from services.bot.i18n import Translations
from services.bot.notifications.render import render_alert
from services.bot.repositories.notifications import Alert
from services.payments.app import build
from tests.payments.conftest import Harness, Peers, start_harness, stop_harness
from tests.support.wait import wait_for

CONTRADICTED = "payment_claim_contradicted"


async def bought(payments: Harness) -> tuple[int, int, int]:
    """A user with a pending purchase and its Crypto Pay invoice: (user, purchase id, invoice id)."""
    user = await payments.user()
    invoice = await payments.invoice(user)
    return user, invoice.purchase_id, await payments.provider_invoice_id(invoice.purchase_id)


async def claims(payments: Harness, state: str) -> int:
    return await payments.fetchval("SELECT count(*) FROM payment_claims WHERE state = $1", state)


async def paid(payments: Harness, purchase_id: int) -> bool:
    return await payments.status(purchase_id) == "paid"


async def nothing_credited(payments: Harness, user: int) -> None:
    counts = await payments.counts()
    assert (counts["paid"], counts["settled"], counts["activations"], counts["ledger_rows"]) == (0, 0, 0, 0)
    assert await payments.fetchval("SELECT count(*) FROM subscriptions WHERE user_id = $1", user) == 0
    assert await payments.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", user) == 0


async def test_a_signed_claim_for_an_invoice_crypto_pay_still_reports_active_credits_nothing(payments: Harness):
    user, purchase_id, invoice_id = await bought(payments)
    await payments.cryptopay.forge_paid(invoice_id)
    await wait_for(lambda: claims(payments, "contradicted"), message="the forged claim contradicted")

    assert await payments.status(purchase_id) == "pending"
    await nothing_credited(payments, user)
    [alert] = await payments.fetch("SELECT kind, subject, detail FROM admin_alerts")
    detail = orjson.loads(alert["detail"])
    assert (alert["kind"], alert["subject"], detail["invoice_id"]) == (
        CONTRADICTED, f"Crypto Pay invoice {invoice_id}", invoice_id)
    assert detail["differs"] == f"Crypto Pay says invoice {invoice_id} is active, not paid"
    assert payments.peers.count("bot") >= 1  # the bot is told to send the alert now
    # What the admins read, in each language: the invoice and what Crypto Pay said instead.
    row = (await payments.fetch("SELECT id, kind, subject, detail, created_at FROM admin_alerts"))[0]
    shown = Alert(row["id"], row["kind"], row["subject"], orjson.loads(row["detail"]), row["created_at"])
    english, russian = (render_alert(Translations().get(code), shown) for code in ("en", "ru"))
    assert english.startswith(f"🚨 A signed Crypto Pay webhook said invoice <b>{invoice_id}</b> was paid")
    assert f"Crypto Pay says otherwise: Crypto Pay says invoice {invoice_id} is active, not paid." in english
    assert "Nothing was credited" in english and f"<b>{invoice_id}</b>" in russian and "Ничего не зачислено" in russian

    # The same forged delivery again (a replay, dated days ago): the same claim, no second alert.
    await payments.cryptopay.replay(1, request_date="2025-01-01T00:00:00.000Z")
    await payments.cryptopay.replay(1)
    assert await payments.cryptopay.wait_for_deliveries(3, timeout=10)
    assert [d["attempts"][-1]["status"] for d in payments.cryptopay.deliveries()] == [200, 200, 200]
    assert await payments.fetchval("SELECT count(*) FROM admin_alerts") == 1

    # The user really pays: Crypto Pay's genuine update is another claim, confirmed and credited.
    await payments.cryptopay.pay(invoice_id)
    await wait_for(lambda: paid(payments, purchase_id), message="the real payment settled")
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["alerts"]) == (1, 1, 1)


@pytest.mark.parametrize("case", ["expired", "amount", "asset", "unknown_invoice"])
async def test_a_claim_crypto_pay_contradicts_is_marked_and_alerted_not_credited(payments: Harness, case: str):
    user, purchase_id, invoice_id = await bought(payments)
    claimed_id = invoice_id
    if case == "expired":
        payments.cryptopay.advance_time(payments.app.settings.cryptopay.cryptopay_invoice_ttl + 1)
        await payments.cryptopay.forge_paid(invoice_id)
        differs = f"Crypto Pay says invoice {invoice_id} is expired, not paid"
    elif case == "unknown_invoice":
        claimed_id = invoice_id + 500
        await payments.cryptopay.forge_paid(invoice_id, claim={"invoice_id": claimed_id})
        differs = f"Crypto Pay has no invoice {claimed_id}"
    else:
        # Really paid, but its update was lost; then a signed claim that differs from what was paid.
        payments.cryptopay.set_delivery(mode="drop")
        await payments.cryptopay.pay(invoice_id)
        payments.cryptopay.set_delivery(mode="normal")
        if case == "amount":
            await payments.cryptopay.forge_paid(invoice_id, claim={"amount": "0.30"})
            differs = "claimed amount 0.30 (Crypto Pay: 3)"
        else:
            await payments.cryptopay.forge_paid(invoice_id, claim={"paid_asset": "TON", "paid_amount": "0.6"})
            differs = "claimed paid_asset TON (Crypto Pay: USDT), paid_amount 0.6 (Crypto Pay: 3)"
    await wait_for(lambda: claims(payments, "contradicted"), message="the claim contradicted")

    assert await payments.status(purchase_id) == "pending"
    await nothing_credited(payments, user)
    [alert] = await payments.fetch("SELECT kind, detail FROM admin_alerts")
    detail = orjson.loads(alert["detail"])
    assert (alert["kind"], detail["invoice_id"], detail["differs"]) == (CONTRADICTED, claimed_id, differs)
    assert await payments.fetchval("SELECT verdict FROM payment_claims") == differs

    await payments.app.reconcile_once()
    if case in ("amount", "asset"):
        # The money is real: reconciliation, which asks Crypto Pay itself, still credits it once.
        assert await paid(payments, purchase_id)
        assert (await payments.counts())["activations"] == 1
    else:
        assert await payments.status(purchase_id) != "paid"


@pytest.mark.parametrize("kind", ["refuse", "drop", "slow", "error", "rate_limit"])
async def test_while_crypto_pay_is_away_the_claim_waits_and_settles_when_it_is_back(
        database_url, database, cryptopay, telegram, kind: str):
    # A short client timeout, so that "slow" is a timeout here, as a long stall is in production.
    payments, workers = await start_harness(database_url, database, cryptopay, telegram,
                                            cryptopay={"cryptopay_timeout": 0.3, "cryptopay_read_attempts": 1})
    try:
        user, purchase_id, invoice_id = await bought(payments)
        await cryptopay.outage(1.5, kind, latency=2.0, status=503, retry_after=1)
        await cryptopay.pay(invoice_id)

        async def postponed() -> bool:
            return await payments.fetchval("SELECT attempts FROM payment_claims") >= 1
        await wait_for(postponed, message="a confirmation attempt that got no answer")
        assert await payments.status(purchase_id) == "pending"
        await wait_for(lambda: claims(payments, "confirmed"), timeout=20, message="confirmed once Crypto Pay is back")
        assert await paid(payments, purchase_id)

        # The webhook was answered at once, whatever state Crypto Pay's API was in.
        [delivery] = cryptopay.deliveries()
        assert [a["status"] for a in delivery["attempts"]] == [200]
        assert delivery["attempts"][0]["duration_ms"] < 1000
        counts = await payments.counts()
        assert (counts["settled"], counts["activations"], counts["alerts"]) == (1, 1, 0)
        row = (await payments.fetch("SELECT state, outcome, last_error FROM payment_claims"))[0]
        assert (row["state"], row["outcome"], row["last_error"]) == ("confirmed", "settled", None)
    finally:
        await stop_harness(payments, workers)


async def test_an_old_delivery_replayed_days_later_is_confirmed_and_credited_once(payments: Harness):
    payments.cryptopay.set_webhook(None)  # the first delivery never reached us
    user, purchase_id, invoice_id = await bought(payments)
    await payments.cryptopay.pay(invoice_id)
    payments.cryptopay.set_webhook(payments.webhook_url)
    three_days_ago = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    await payments.cryptopay.replay(1, request_date=three_days_ago)
    await wait_for(lambda: claims(payments, "confirmed"), message="the old delivery confirmed")
    assert await paid(payments, purchase_id)
    row = (await payments.fetch("SELECT state, request_date FROM payment_claims"))[0]
    assert (row["state"], row["request_date"]) == ("confirmed", three_days_ago)

    await payments.cryptopay.replay(1)
    assert await payments.cryptopay.wait_for_deliveries(3, timeout=10)
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["notifications"]) == (1, 1, 1)
    # The original bytes and the re-dated ones carry the same invoice: one claim, settled once.
    assert await payments.fetchval("SELECT count(*) FROM payment_claims") == 1
    assert [d["attempts"][-1]["status"] for d in payments.cryptopay.deliveries()[1:]] == [200, 200]


async def test_claims_left_from_before_a_restart_are_confirmed_in_one_batched_call(
        database_url, database, cryptopay, telegram):
    payments, workers = await start_harness(database_url, database, cryptopay, telegram)
    second = None
    try:
        confirmer = workers.pop()  # as if the process died right after answering the webhooks
        confirmer.cancel()
        await asyncio.gather(confirmer, return_exceptions=True)
        bought_ = [await bought(payments) for _ in range(30)]
        for _, _, invoice_id in bought_:
            await cryptopay.pay(invoice_id)
        assert await cryptopay.wait_for_deliveries(30, timeout=10)
        assert await claims(payments, "pending") == 30 and (await payments.counts())["paid"] == 0

        calls_before = cryptopay.counters.count("getInvoices")
        restarted = build(payments.app.settings, database, Peers())  # the next process: its first pass
        assert restarted.confirmer is not None
        second = asyncio.create_task(restarted.confirmer.run())
        await wait_for(lambda: claims(payments, "confirmed"), message="claims confirmed after the restart")

        async def all_paid() -> bool:
            return (await payments.counts())["paid"] == 30
        await wait_for(all_paid, message="every claim settled")
        assert cryptopay.counters.count("getInvoices") - calls_before == 1
        assert restarted.confirmer.counts["provider_calls"] == 1
        await restarted.close()
    finally:
        if second is not None:
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)
        await stop_harness(payments, workers)


async def test_a_chunk_with_one_contradicted_claim_settles_the_others_and_alerts_about_that_one(
        database_url, database, cryptopay, telegram):
    payments, workers = await start_harness(database_url, database, cryptopay, telegram)
    try:
        confirmer = workers.pop()  # the claims pile up unconfirmed, to be judged in one chunk
        confirmer.cancel()
        await asyncio.gather(confirmer, return_exceptions=True)
        genuine = [await bought(payments) for _ in range(4)]
        forged_user, forged_purchase, forged_invoice = await bought(payments)
        for _, _, invoice_id in genuine[:2]:
            await cryptopay.pay(invoice_id)
        await cryptopay.forge_paid(forged_invoice)
        for _, _, invoice_id in genuine[2:]:
            await cryptopay.pay(invoice_id)
        assert await cryptopay.wait_for_deliveries(5, timeout=10)
        assert await claims(payments, "pending") == 5

        calls_before = cryptopay.counters.count("getInvoices")
        await payments.app.confirmer.confirm_due()
        assert cryptopay.counters.count("getInvoices") - calls_before == 1
        assert [await payments.status(purchase_id) for _, purchase_id, _ in genuine] == ["paid"] * 4
        assert await payments.status(forged_purchase) == "pending"
        assert (await claims(payments, "confirmed"), await claims(payments, "contradicted")) == (4, 1)
        [alert] = await payments.fetch("SELECT kind, detail FROM admin_alerts")
        assert (alert["kind"], orjson.loads(alert["detail"])["invoice_id"]) == (CONTRADICTED, forged_invoice)
        counts = await payments.counts()
        assert (counts["paid"], counts["settled"], counts["activations"], counts["notifications"]) == (4, 4, 4, 4)
        assert await payments.fetchval("SELECT count(*) FROM subscriptions WHERE user_id = $1", forged_user) == 0
    finally:
        await stop_harness(payments, workers)


async def test_crypto_pay_going_away_mid_run_settles_what_it_confirmed_and_the_rest_when_it_is_back(
        database_url, database, cryptopay, telegram):
    """Seven claims, three to a getInvoices call: Crypto Pay answers the first call and then goes
    away. The three it confirmed are settled; the other four are credited nothing, wait with a
    growing pause and no alert, and are settled once it is back, each exactly once."""
    payments, workers = await start_harness(database_url, database, cryptopay, telegram,
                                            payments={"confirm_batch": 3, "confirm_retry_base": 1.0},
                                            cryptopay={"cryptopay_read_attempts": 1})
    try:
        confirmer = workers.pop()
        confirmer.cancel()
        await asyncio.gather(confirmer, return_exceptions=True)
        bought_ = [await bought(payments) for _ in range(7)]
        for _, _, invoice_id in bought_:
            await cryptopay.pay(invoice_id)
        assert await cryptopay.wait_for_deliveries(7, timeout=10)
        assert await claims(payments, "pending") == 7

        calls_before = cryptopay.counters.count("getInvoices")
        cryptopay.add_fault(route="getInvoices", kind="error", status=503, after=1)
        await payments.app.confirmer.confirm_due()
        # One call answered, then two that got a 503 (the second and third three claims).
        assert cryptopay.counters.count("getInvoices") - calls_before == 3
        assert (await claims(payments, "confirmed"), await claims(payments, "pending")) == (3, 4)
        assert (await payments.counts())["paid"] == 3
        waiting = await payments.fetch(
            "SELECT attempts, last_error, next_attempt_at > now() AS later FROM payment_claims WHERE state = 'pending'")
        assert all(r["attempts"] == 1 and "503" in r["last_error"] and r["later"] for r in waiting)
        assert await payments.fetchval("SELECT count(*) FROM admin_alerts") == 0

        cryptopay.clear_faults()
        workers.append(asyncio.create_task(payments.app.confirmer.run()))

        async def all_confirmed() -> bool:
            return await claims(payments, "confirmed") == 7
        await wait_for(all_confirmed, timeout=20, message="every claim confirmed once Crypto Pay is back")
        assert [await payments.status(purchase_id) for _, purchase_id, _ in bought_] == ["paid"] * 7
        counts = await payments.counts()
        assert (counts["settled"], counts["activations"], counts["notifications"], counts["alerts"]) == (7, 7, 7, 0)
        assert await payments.fetchval("SELECT count(*) FROM payment_claims WHERE outcome = 'settled'") == 7
    finally:
        await stop_harness(payments, workers)
