"""Does what was paid match what was sold? A payment that does not is never credited: it is
flagged for the admins (the money is real, so it is not dropped either). And does a webhook's claim
match what Crypto Pay itself says about the invoice? One that does not pays for nothing."""
from __future__ import annotations

from decimal import Decimal

from services.payments.settings import CryptoPaySettings
from services.payments.provider_models import CryptoInvoice
from services.payments.repositories.purchases import Purchase


def claim_contradiction(claimed: CryptoInvoice, actual: CryptoInvoice | None) -> str | None:
    """What Crypto Pay's own record of the invoice contradicts in a webhook's claim that it was paid.

    The provider is the proof: a claim it does not bear out in every field that moves money is a
    replay, a leaked token or a forged body, and pays for nothing."""
    if actual is None:
        return f"Crypto Pay has no invoice {claimed.invoice_id}"
    if actual.status != "paid":
        return f"Crypto Pay says invoice {actual.invoice_id} is {actual.status}, not paid"
    fields = ("currency_type", "asset", "fiat", "amount", "paid_asset", "paid_amount")
    differ = [f"{name} {getattr(claimed, name)} (Crypto Pay: {getattr(actual, name)})"
              for name in fields if getattr(claimed, name) != getattr(actual, name)]
    return "claimed " + ", ".join(differ) if differ else None


def cryptobot_mismatch(invoice: CryptoInvoice, purchase: Purchase, settings: CryptoPaySettings) -> str | None:
    if invoice.status != "paid":
        return f"invoice status is {invoice.status}"
    if invoice.amount != purchase.amount:
        return f"invoice amount {invoice.amount} differs from the price {purchase.amount}"
    if invoice.paid_asset is None or invoice.paid_amount is None:
        return "paid invoice without paid_asset/paid_amount"
    if invoice.currency_type == "fiat":
        return _fiat_mismatch(invoice, purchase, settings)
    if invoice.asset != purchase.currency:
        return f"invoice asset {invoice.asset} differs from {purchase.currency}"
    if invoice.paid_asset != invoice.asset:
        return f"paid in {invoice.paid_asset}, invoice is in {invoice.asset}"
    if invoice.paid_amount < invoice.amount:
        return f"paid {invoice.paid_amount} {invoice.paid_asset} of {invoice.amount}"
    return None


def _fiat_mismatch(invoice: CryptoInvoice, purchase: Purchase, settings: CryptoPaySettings) -> str | None:
    if invoice.fiat != purchase.currency:
        return f"invoice fiat {invoice.fiat} differs from {purchase.currency}"
    accepted = settings.accepted_assets()
    if accepted and invoice.paid_asset not in accepted:
        return f"paid in {invoice.paid_asset}, which is not an accepted asset"
    if invoice.paid_fiat_rate is not None:
        # Crypto Pay converts at its rate and rounds the crypto amount; allow that rounding only.
        worth = invoice.paid_amount * invoice.paid_fiat_rate
        floor = invoice.amount * (Decimal(1) - settings.cryptopay_underpay_tolerance)
        if worth < floor:
            return f"paid {invoice.paid_amount} {invoice.paid_asset} worth {worth:.2f} {invoice.fiat} of {invoice.amount}"
    return None


def stars_mismatch(purchase: Purchase, *, user_id: int | None, currency: str, total_amount: int) -> str | None:
    if currency != "XTR" or purchase.currency != "XTR":
        return f"currency {currency} is not Telegram Stars"
    if Decimal(total_amount) != purchase.amount:
        return f"paid {total_amount} XTR of {purchase.amount}"
    if user_id is not None and user_id != purchase.user_id:
        return f"paid by user {user_id}, bought by {purchase.user_id}"
    return None
