"""check_payment: "I paid" from a user, or an admin's manual check. Asks the provider about this
one purchase now instead of waiting for the next reconciliation pass, and settles through the
same function as every other path."""
from __future__ import annotations

from services.payments.settings import CryptoPaySettings
from common.contract.base import RpcErrorCode
from common.contract.payments import PurchaseRef, PurchaseState
from common.db.database import Database
from common.ipc.errors import RpcError
from common.telegram.bot_api import BotApiError
from services.payments.cryptobot_payment import cryptobot_payment
from services.payments.cryptopay_client import CryptoPayClient, CryptoPayError, CryptoPayUnavailable
from services.payments.purchase_ref import named_purchase
from services.payments.repositories import purchases
from services.payments.settlement import Overloaded, Settle
from services.payments.stars import Stars


class PaymentChecks:
    def __init__(self, db: Database, cryptopay: CryptoPayClient | None, stars: Stars, settle: Settle,
                 settings: CryptoPaySettings) -> None:
        self.db = db
        self.cryptopay = cryptopay
        self.stars = stars
        self.settle = settle
        self.settings = settings

    async def check(self, ref: PurchaseRef) -> PurchaseState:
        purchase = await named_purchase(self.db, ref)
        if purchase.status == "pending":
            try:
                if purchase.method == "cryptobot" and purchase.provider_invoice_id and self.cryptopay:
                    read = await self.cryptopay.get_invoices([int(purchase.provider_invoice_id)])
                    for invoice in read.invoices:
                        if invoice.status == "paid":
                            await self.settle(cryptobot_payment(invoice, "check", self.settings))
                        elif invoice.status == "expired":
                            async with self.db.acquire() as conn:
                                await purchases.expire(conn, purchase.id)
                elif purchase.method == "stars":
                    await self.stars.reconcile()
            except Overloaded:
                raise RpcError(RpcErrorCode.OVERLOADED, "settlement queue is full; retry") from None
            except (CryptoPayUnavailable, CryptoPayError, BotApiError) as exc:
                raise _provider_failed(exc) from None
            async with self.db.acquire() as conn:
                purchase = await purchases.get(conn, ref.purchase_id)
            assert purchase is not None
        return PurchaseState(purchase_id=purchase.id, status=purchase.status)


def _provider_failed(exc: CryptoPayUnavailable | CryptoPayError | BotApiError) -> RpcError:
    if isinstance(exc, CryptoPayUnavailable) or (isinstance(exc, BotApiError) and exc.transient):
        return RpcError(RpcErrorCode.UNAVAILABLE, "the payment provider is not answering; try again")
    return RpcError(RpcErrorCode.UNAVAILABLE, f"the payment provider refused the check: {exc}")
