"""payments: Crypto Bot (Crypto Pay) and Telegram Stars, each payment settled exactly once.

Paths into settlement, all through `settlement.settle_in` (one transaction each, or a batch of
confirmed webhook claims in one transaction with a savepoint each):
  webhook.py         POST /webhooks/cryptobot (signature on raw bytes, then JSON, then the claim is
                     stored: claim_writer.py) -> confirmation.py (getInvoices says paid, then settle)
  reconciliation.py  periodic getInvoices over our open invoices; expiry of stale ones
  stars.py           STARS_PAID from the bot; getStarTransactions walk for lost updates
  checks.py          CHECK_PAYMENT ("I paid", an admin's manual check)
The dedupe key is the provider's payment id (payment_events primary key): Crypto Pay invoice_id,
Telegram telegram_payment_charge_id. Outbox rows (activation, notification, referral bonus) are
written in the same transaction; common/ipc/nudges.py (PeerNudges) tells vpn_gateway and bot after
the commit.

Also: invoices.py (CREATE_INVOICE), refunds.py (REFUND), the balance ledger rule in common/shop/ledger.py,
matching.py (does the payment match the purchase), repositories/ (all SQL), app.py (wiring).
"""
