"""Crypto Pay reconciliation: webhooks can be lost, and Crypto Pay disables an endpoint once its
retries run out, so a periodic pass asks getInvoices about every invoice we still think is open.
Paid ones are settled through the same function as the webhook (a payment both paths see counts
once); ones the provider expired or no longer has are expired here."""
from __future__ import annotations

import logging
from datetime import timedelta

from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.db.database import Database
from common.shop.outbox import enqueue_admin_alert
from services.payments.cryptobot_payment import cryptobot_payment
from services.payments.cryptopay_client import CryptoPayClient
from services.payments.repositories import purchases
from services.payments.settlement import Settle, Source

log = logging.getLogger(__name__)


class CryptoReconciler:
    def __init__(self, db: Database, client: CryptoPayClient, settle: Settle, cryptopay: CryptoPaySettings,
                 payments: PaymentsSettings) -> None:
        self.db = db
        self.client = client
        self.settle = settle
        self.cp = cryptopay
        self.settings = payments
        self.passes = 0
        self._reported_unreadable: set[int] = set()

    async def _report_unreadable(self, purchase_id: int, invoice_id: int) -> None:
        if invoice_id in self._reported_unreadable:
            return
        async with self.db.acquire() as conn:
            await enqueue_admin_alert(conn, "payment_unreadable", f"Crypto Pay invoice {invoice_id} cannot be read",
                                      {"purchase_id": purchase_id, "invoice_id": invoice_id,
                                       "action": "kept pending; check it in Crypto Bot and settle by hand if paid"})
        self._reported_unreadable.add(invoice_id)

    async def run_pass(self, source: Source = "reconcile") -> dict[str, int]:
        stats = {"checked": 0, "settled": 0, "expired": 0}
        grace = timedelta(seconds=self.settings.reconcile_grace)
        after = 0
        while True:
            async with self.db.acquire() as conn:
                page = await purchases.open_invoices(conn, after, self.settings.reconcile_batch)
                now = await purchases.db_now(conn)
            if not page:
                break
            after = page[-1].id
            read = await self.client.get_invoices([int(p.provider_invoice_id) for p in page if p.provider_invoice_id])
            found = {str(i.invoice_id): i for i in read.invoices}
            stats["checked"] += len(page)
            for purchase in page:
                invoice = found.get(purchase.provider_invoice_id or "")
                invoice_id = int(purchase.provider_invoice_id) if purchase.provider_invoice_id else None
                if invoice is None and invoice_id in read.unreadable:
                    # It exists and may be paid: never expire it for being "absent". It stays pending
                    # (checked again each pass) and the admins are told once.
                    await self._report_unreadable(purchase.id, invoice_id)
                elif invoice is not None and invoice.status == "paid":
                    outcome = await self.settle(cryptobot_payment(invoice, source, self.cp))
                    stats["settled"] += outcome.status == "settled"
                elif (invoice is not None and invoice.status == "expired") or (
                        invoice is None and purchase.expires_at is not None and purchase.expires_at + grace < now):
                    async with self.db.acquire() as conn:
                        stats["expired"] += await purchases.expire(conn, purchase.id)
            if len(page) < self.settings.reconcile_batch:
                break
        # An invoice that was never created (provider down, crash mid-call): nothing can pay it
        # once its ttl is over, except an orphan invoice, which the payload path still settles.
        async with self.db.acquire() as conn:
            stats["expired"] += await purchases.expire_without_invoice(
                conn, self.cp.cryptopay_invoice_ttl + self.settings.reconcile_grace)
        self.passes += 1
        if stats["settled"] or stats["expired"]:
            log.info("reconciliation pass", extra=stats)
        return stats
