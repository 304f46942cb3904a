"""RPC methods served by payments."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from common.contract.base import Body, method

PaymentMethod = Literal["cryptobot", "stars"]


class CreateInvoice(Body):
    user_id: int
    method: PaymentMethod
    plan_id: int | None = None          # a plan purchase...
    topup_amount: Decimal | None = None  # ...or a balance top-up (cryptobot only)
    request_id: str                      # idempotency key: the same request_id returns the same invoice


class Invoice(Body):
    purchase_id: int
    method: PaymentMethod
    amount: Decimal
    currency: str
    invoice_url: str | None = None       # cryptobot: bot_invoice_url for a button
    # stars: what the bot passes to sendInvoice (the bot owns the chat)
    stars_payload: str | None = None
    title: str | None = None
    description: str | None = None


class StarsPreCheckout(Body):
    user_id: int
    payload: str
    currency: str
    total_amount: int


class PreCheckoutVerdict(Body):
    ok: bool
    error_message: str | None = None


class StarsPaid(Body):
    user_id: int
    payload: str
    currency: str
    total_amount: int
    telegram_payment_charge_id: str
    provider_payment_charge_id: str = ""


class Settlement(Body):
    purchase_id: int | None
    status: Literal["settled", "duplicate", "flagged", "unknown"]


class PurchaseRef(Body):
    purchase_id: int
    admin_id: int | None = None


class PurchaseState(Body):
    purchase_id: int
    status: str


CREATE_INVOICE = method("create_invoice", "payments", CreateInvoice, Invoice, retry_safe=True)
STARS_PRE_CHECKOUT = method("stars_pre_checkout", "payments", StarsPreCheckout, PreCheckoutVerdict, retry_safe=True)
STARS_PAID = method("stars_paid", "payments", StarsPaid, Settlement, retry_safe=True)   # keyed by charge id
CHECK_PAYMENT = method("check_payment", "payments", PurchaseRef, PurchaseState, retry_safe=True)
REFUND = method("refund", "payments", PurchaseRef, PurchaseState, retry_safe=True)      # keyed by purchase id
