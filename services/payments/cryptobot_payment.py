"""A paid Crypto Pay invoice as a settlement Payment, whichever path brought it (webhook,
reconciliation, manual check): keyed by invoice_id, the only id Crypto Pay keeps unique."""
from __future__ import annotations

from services.payments.settings import CryptoPaySettings
from services.payments import payload
from services.payments.matching import cryptobot_mismatch
from services.payments.provider_models import CryptoInvoice
from services.payments.settlement import Payment, Source


def cryptobot_payment(invoice: CryptoInvoice, source: Source, settings: CryptoPaySettings,
                      update_id: int | None = None) -> Payment:
    return Payment(
        provider="cryptobot",
        ref=str(invoice.invoice_id),
        source=source,
        purchase_hint=payload.decode(invoice.payload),
        mismatch=lambda purchase: cryptobot_mismatch(invoice, purchase, settings),
        paid_asset=invoice.paid_asset,
        paid_amount=invoice.paid_amount,
        update_id=update_id,
        detail=invoice.summary(),
    )
