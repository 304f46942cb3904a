"""POST /webhooks/cryptobot: a paid invoice, once Crypto Pay confirms it, is credited once; anything
else writes nothing but, for a signed claim, the claim itself."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from tests.payments.conftest import CRYPTOPAY_TOKEN, Harness
from tests.payments.webhooks import post, sign, update_body
from tests.support.wait import wait_for


async def paid_invoice(payments: Harness, **pay) -> tuple[int, int, dict]:
    """A user, a purchase and its invoice paid at the stand-in (the webhook goes out)."""
    user = await payments.user()
    invoice = await payments.invoice(user)
    invoice_id = await payments.provider_invoice_id(invoice.purchase_id)
    paid = await payments.cryptopay.pay(invoice_id, **pay)
    return user, invoice.purchase_id, paid


async def settled(payments: Harness, purchase_id: int) -> bool:
    return await payments.status(purchase_id) == "paid"


async def test_a_paid_invoice_is_settled_once_with_its_outbox_rows(payments: Harness):
    user, purchase_id, paid = await paid_invoice(payments)
    assert paid["payload"] == f"atcs:{purchase_id}"
    await wait_for(lambda: settled(payments, purchase_id), message="purchase settled")

    [activation] = await payments.fetch("SELECT user_id, action, idempotency_key FROM activations")
    assert tuple(activation) == (user, "issue", f"purchase:{purchase_id}")
    expires = await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user)
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=1)
    [notice] = await payments.fetch("SELECT kind, params FROM notifications WHERE user_id = $1", user)
    assert notice["kind"] == "payment_received"
    assert orjson.loads(notice["params"])["plan_code"] == "month_1"
    event = (await payments.fetch("SELECT * FROM payment_events"))[0]
    assert (event["provider"], event["provider_ref"], event["source"], event["outcome"]) == (
        "cryptobot", str(paid["invoice_id"]), "webhook", "settled")
    # After the commit, vpn_gateway and bot are told to look now.
    await wait_for(lambda: payments.peers.count("vpn_gateway") and payments.peers.count("bot"), message="nudges")
    [delivery] = payments.cryptopay.deliveries()
    assert delivery["outcome"] == "delivered" and delivery["attempts"][0]["status"] == 200


async def test_the_same_payment_delivered_again_changes_nothing(payments: Harness):
    payments.cryptopay.set_delivery(mode="duplicate", copies=3)
    user, purchase_id, paid = await paid_invoice(payments)
    assert await payments.cryptopay.wait_for_deliveries(3, timeout=10)
    assert all(d["outcome"] == "delivered" for d in payments.cryptopay.deliveries())
    await wait_for(lambda: settled(payments, purchase_id), message="paid")
    before = await payments.counts()
    assert (before["paid"], before["settled"], before["activations"]) == (1, 1, 1)

    # Crypto Pay documents update_id as non-unique: a new one must not make a new payment.
    status, answer = await post(payments.webhook_url, body := update_body(paid, update_id=987654), sign(body))
    assert (status, answer["claim"]) == (200, "seen")
    assert await payments.counts() == before
    assert await payments.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user) is not None


@pytest.mark.parametrize("case", [
    "no_signature", "bad_signature", "other_token", "tampered", "uppercase_hex", "not_json", "array",
    "no_payload", "not_paid", "float_amount", "nan_amount", "huge_amount", "negative_id", "bool_id",
    "nul_in_payload", "too_large",
])
async def test_forged_or_malformed_requests_write_nothing(payments: Harness, case: str):
    payments.cryptopay.set_webhook(None)  # only our requests reach the webhook in this test
    user = await payments.user()
    invoice = await payments.invoice(user)
    paid = await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    baseline = await payments.counts()

    good = update_body(paid)
    body, signature, expected = good, sign(good), 400
    if case == "no_signature":
        signature, expected = None, 401
    elif case == "bad_signature":
        signature, expected = "0" * 64, 401
    elif case == "other_token":
        signature, expected = sign(good, CRYPTOPAY_TOKEN + "x"), 401
    elif case == "tampered":
        body, expected = good.replace(b'"paid"', b'"paid" ', 1), 401
    elif case == "uppercase_hex":
        signature, expected = sign(good).upper(), 401
    elif case == "not_json":
        body = b"{not json"
    elif case == "array":
        body = b"[1, 2, 3]"
    elif case == "no_payload":
        body = orjson.dumps({"update_id": 1, "update_type": "invoice_paid"})
    elif case == "not_paid":
        body = update_body({**paid, "status": "active"})
    elif case == "float_amount":
        body = update_body({**paid, "amount": 3.0})
    elif case == "nan_amount":
        body = update_body({**paid, "amount": "NaN"})
    elif case == "huge_amount":
        body = update_body({**paid, "paid_amount": "1e999999999"})
    elif case == "negative_id":
        body = update_body({**paid, "invoice_id": -5})
    elif case == "bool_id":
        body = update_body({**paid, "invoice_id": True})
    elif case == "nul_in_payload":
        body = update_body({**paid, "payload": "atcs:1\x00"})
    elif case == "too_large":
        body, expected = good + b" " * (payments.app.settings.payments.webhook_max_body + 1), 413
    if case not in ("no_signature", "bad_signature", "other_token", "tampered", "uppercase_hex"):
        signature = sign(body)

    status, _ = await post(payments.webhook_url, body, signature)
    assert status == expected
    assert await payments.counts() == baseline
    assert await payments.status(invoice.purchase_id) == "pending"


async def test_an_underpaid_invoice_is_flagged_not_credited(payments: Harness):
    user, purchase_id, _ = await paid_invoice(payments, paid_asset="USDT", paid_amount=Decimal("1.00"))
    await wait_for(lambda: payments.fetchval("SELECT count(*) FROM payment_events"), message="event recorded")
    assert await payments.status(purchase_id) == "flagged"
    counts = await payments.counts()
    assert (counts["activations"], counts["ledger_rows"], counts["alerts"]) == (0, 0, 1)
    assert await payments.fetchval("SELECT count(*) FROM subscriptions") == 0
    [alert] = await payments.fetch("SELECT kind, detail FROM admin_alerts")
    assert alert["kind"] == "payment_flagged" and "worth 1.00 USD" in orjson.loads(alert["detail"])["reason"]
    kinds = [r["kind"] for r in await payments.fetch("SELECT kind FROM notifications WHERE user_id = $1", user)]
    assert kinds == ["payment_flagged"]


async def test_a_payment_in_an_asset_we_do_not_accept_is_flagged(payments: Harness):
    _, purchase_id, _ = await paid_invoice(payments, paid_asset="ETH")
    await wait_for(lambda: payments.fetchval("SELECT count(*) FROM payment_events"), message="event recorded")
    assert await payments.status(purchase_id) == "flagged"
    assert (await payments.counts())["activations"] == 0


async def test_a_signed_update_for_an_invoice_crypto_pay_does_not_have_credits_nothing(payments: Harness):
    stranger = {"invoice_id": 999_999, "status": "paid", "currency_type": "fiat", "fiat": "USD",
                "amount": "3", "paid_asset": "USDT", "paid_amount": "3", "payload": "not ours"}
    status, answer = await post(payments.webhook_url, body := update_body(stranger), sign(body))
    assert (status, answer["claim"]) == (200, "recorded")
    await wait_for(lambda: payments.fetchval("SELECT count(*) FROM admin_alerts"), message="admins told")
    counts = await payments.counts()
    assert (counts["events"], counts["alerts"], counts["activations"], counts["paid"]) == (0, 1, 0, 0)
    [alert] = await payments.fetch("SELECT kind, detail FROM admin_alerts")
    assert alert["kind"] == "payment_claim_contradicted"
    assert orjson.loads(alert["detail"])["differs"] == "Crypto Pay has no invoice 999999"


async def test_other_update_types_are_acknowledged_and_ignored(payments: Harness):
    status, answer = await post(payments.webhook_url, body := update_body({}, update_type="check_activated"),
                                sign(body))
    assert (status, answer.get("ignored")) == (200, True)
    assert (await payments.counts())["events"] == 0


async def test_a_top_up_goes_through_the_ledger(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user, topup="12.50")
    assert (invoice.amount, invoice.currency) == (Decimal("12.50"), "USD")
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    await wait_for(lambda: payments.fetchval("SELECT balance FROM users WHERE id = $1", user), message="top-up")
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("12.50")
    [row] = await payments.fetch("SELECT amount, kind, reference FROM balance_ledger")
    assert tuple(row) == (Decimal("12.50"), "topup", f"purchase:{invoice.purchase_id}")
    assert (await payments.counts())["activations"] == 0
    [notice] = await payments.fetch("SELECT kind, params FROM notifications")
    assert notice["kind"] == "topup_received" and orjson.loads(notice["params"])["balance"] == "12.50"


async def test_the_referrer_is_credited_once_on_the_first_payment(payments: Harness):
    referrer = await payments.user()
    invitee = await payments.user(referred_by=referrer)
    for _ in range(2):
        invoice = await payments.invoice(invitee)
        await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
        await wait_for(lambda: settled(payments, invoice.purchase_id), message="paid")
    [bonus] = await payments.fetch("SELECT invitee_id, referrer_id, days FROM referral_bonuses")
    assert tuple(bonus) == (invitee, referrer, 7)
    keys = sorted(r["idempotency_key"] for r in await payments.fetch(
        "SELECT idempotency_key FROM activations WHERE user_id = $1", referrer))
    assert keys == [f"referral:{invitee}"]
    kinds = [r["kind"] for r in await payments.fetch("SELECT kind FROM notifications WHERE user_id = $1", referrer)]
    assert kinds == ["referral_bonus"]


async def test_a_payment_that_beats_the_stored_invoice_id_finds_its_purchase_by_payload(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user)
    invoice_id = await payments.provider_invoice_id(invoice.purchase_id)
    # As if create_invoice crashed between the provider's answer and storing it.
    await payments.fetchval("UPDATE purchases SET provider_invoice_id = NULL WHERE id = $1", invoice.purchase_id)
    await payments.cryptopay.pay(invoice_id)
    await wait_for(lambda: settled(payments, invoice.purchase_id), message="paid via payload")
    assert await payments.provider_invoice_id(invoice.purchase_id) == invoice_id


async def orphan_invoice(payments: Harness, purchase_id: int) -> int:
    """A second invoice at Crypto Pay naming the same purchase, as a retried createInvoice whose first
    answer was lost would leave behind."""
    assert payments.app.cryptopay is not None
    created = await payments.app.cryptopay.create_invoice(
        amount=Decimal("3.00"), currency_type="fiat", asset=None, fiat="USD", accepted_assets=["USDT"],
        description="orphan", payload=f"atcs:{purchase_id}", expires_in=3600)
    return created["invoice_id"]


async def test_a_second_invoice_paid_for_one_purchase_is_flagged_not_credited_twice(payments: Harness):
    user, purchase_id, paid = await paid_invoice(payments)
    await wait_for(lambda: settled(payments, purchase_id), message="paid")
    await payments.cryptopay.pay(await orphan_invoice(payments, purchase_id))
    await wait_for(lambda: payments.fetchval("SELECT count(*) FROM admin_alerts"), message="orphan flagged")
    counts = await payments.counts()
    assert (counts["paid"], counts["activations"], counts["alerts"], counts["events"]) == (1, 1, 1, 2)
    assert await payments.fetchval("SELECT kind FROM admin_alerts") == "payment_flagged"


async def test_an_orphaned_invoice_paid_before_the_real_one_leaves_the_purchase_payable(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user)
    await payments.cryptopay.pay(await orphan_invoice(payments, invoice.purchase_id))
    await wait_for(lambda: payments.fetchval("SELECT count(*) FROM admin_alerts"), message="orphan flagged")
    assert await payments.status(invoice.purchase_id) == "pending"
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    await wait_for(lambda: settled(payments, invoice.purchase_id), message="the real invoice settled")
    counts = await payments.counts()
    assert (counts["paid"], counts["activations"], counts["alerts"]) == (1, 1, 1)
