"""Reconciliation settles what webhooks never delivered, and expires what can no longer be paid."""
from __future__ import annotations

from common.contract.payments import PurchaseRef
from tests.payments.conftest import Harness
from tests.support.ports import free_port


async def test_a_dropped_webhook_is_settled_by_reconciliation(payments: Harness):
    payments.cryptopay.set_delivery(mode="drop")
    user = await payments.user()
    invoice = await payments.invoice(user)
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    assert await payments.status(invoice.purchase_id) == "pending"
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"
    assert await payments.fetchval("SELECT source FROM payment_events") == "reconcile"
    await payments.app.reconcile_once()
    counts = await payments.counts()
    assert (counts["settled"], counts["activations"], counts["notifications"]) == (1, 1, 1)


async def test_an_endpoint_whose_retries_ran_out_is_covered_by_reconciliation(payments: Harness):
    payments.cryptopay.set_webhook(f"http://127.0.0.1:{free_port()}/webhooks/cryptobot")  # nobody listens
    payments.cryptopay.set_delivery(max_attempts=2, base_delay=0.01)
    user = await payments.user()
    invoices = [await payments.invoice(user, topup="5") for _ in range(3)]
    for invoice in invoices:
        await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    assert await payments.cryptopay.wait_for_deliveries(3, timeout=10)
    assert {d["outcome"] for d in payments.cryptopay.deliveries()} == {"failed"}
    await payments.app.reconcile_once()
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == 15
    assert await payments.fetchval("SELECT sum(amount) FROM balance_ledger WHERE user_id = $1", user) == 15


async def test_invoices_the_provider_expired_are_expired_here(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user)
    payments.cryptopay.advance_time(payments.app.settings.cryptopay.cryptopay_invoice_ttl + 1)
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "expired"


async def test_a_purchase_whose_invoice_was_never_created_expires_after_its_ttl(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user)
    await payments.fetchval(
        "UPDATE purchases SET provider_invoice_id = NULL, invoice_url = NULL, created_at = now() - interval '2 days' "
        "WHERE id = $1", invoice.purchase_id)
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "expired"


async def test_reconciliation_survives_a_provider_outage_and_catches_up(payments: Harness):
    payments.cryptopay.set_delivery(mode="drop")
    user = await payments.user()
    invoice = await payments.invoice(user)
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    payments.cryptopay.add_fault(route="getInvoices", kind="error", status=503)
    await payments.app.reconcile_once()  # logs and carries on; nothing is lost
    assert await payments.status(invoice.purchase_id) == "pending"
    payments.cryptopay.clear_faults()
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"


async def test_a_manual_check_settles_through_the_same_function(payments: Harness):
    payments.cryptopay.set_delivery(mode="drop")
    user = await payments.user()
    invoice = await payments.invoice(user)
    ref = PurchaseRef(purchase_id=invoice.purchase_id, admin_id=1)
    assert (await payments.app.checks.check(ref)).status == "pending"
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    assert (await payments.app.checks.check(ref)).status == "paid"
    assert (await payments.app.checks.check(ref)).status == "paid"
    assert await payments.fetchval("SELECT source FROM payment_events") == "check"
    assert (await payments.counts())["activations"] == 1


async def test_a_paid_invoice_we_cannot_read_is_kept_pending_not_expired(payments: Harness):
    """Should Crypto Pay change an invoice's shape, the invoice is still there and may be paid: absent from
    what we could read is not absent from the provider. It stays pending, the admins hear once, and it
    settles as soon as it can be read again."""
    payments.cryptopay.set_delivery(mode="drop")
    user = await payments.user()
    invoice = await payments.invoice(user)
    provider_id = await payments.provider_invoice_id(invoice.purchase_id)
    await payments.cryptopay.pay(provider_id)
    payments.cryptopay.advance_time(payments.app.settings.cryptopay.cryptopay_invoice_ttl + 1)
    await payments.fetchval("UPDATE purchases SET expires_at = now() - interval '1 day' WHERE id = $1",
                            invoice.purchase_id)   # long past its ttl and grace: "absent" would expire it

    client = payments.app.reconciler.client
    read = client._read

    async def reshaped(method: str, params: dict):
        result = await read(method, params)
        for item in result.get("items", []):
            item["amount"] = {"value": item["amount"]}   # a shape our model does not know
        return result
    client._read = reshaped
    try:
        for _ in range(2):
            await payments.app.reconcile_once()
        assert await payments.status(invoice.purchase_id) == "pending"
        alerts = await payments.fetch("SELECT kind, detail FROM admin_alerts")
        assert [a["kind"] for a in alerts] == ["payment_unreadable"]
    finally:
        client._read = read
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"
