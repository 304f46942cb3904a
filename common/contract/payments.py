"""RPC methods served by payments."""
from __future__ import annotations

from datetime import datetime
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
    promo_code: str | None = None        # a plan purchase at the code's price (common/shop/pricing.py)
    gift: bool = False                   # a plan bought for someone else: settles as a gift link
    traffic_package: str | None = None   # ...or a traffic package (ATCS_TRAFFIC_PACKAGES id) on top of the plan
    recurring: bool = False              # stars only: a monthly Telegram Stars subscription (invoice link)


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
    # stars subscription: the bot makes an invoice link (createInvoiceLink) with this period
    subscription_period: int | None = None


class FreePlanClaim(Body):
    """A plan that a promo code makes free: given at once, as a purchase of method 'promo'."""
    user_id: int
    plan_id: int
    promo_code: str
    request_id: str


class FreePlanGiven(Body):
    purchase_id: int
    days: int
    expires_at: datetime


# A promo code refused by payments: RpcError(CONFLICT, PROMO_REFUSED + <common.shop.promos.Refusal>).
PROMO_REFUSED = "promo refused: "


def promo_refusal(message: str) -> str | None:
    """The Refusal value in a CONFLICT's message, or None when the conflict is about something else."""
    return message[len(PROMO_REFUSED):] if message.startswith(PROMO_REFUSED) else None


class PlanChange(Body):
    """Switch the user's plan (common/shop/proration.py): the value left becomes days of the new plan."""
    user_id: int
    plan_id: int
    request_id: str                      # the confirmation's key: the same request is the same change


class PlanChanged(Body):
    state: Literal["done", "invoice"]    # done now, or waiting for the invoice of what the balance lacks
    change_id: int
    plan_code: str
    days: int                            # of the new plan (when done; as quoted when an invoice waits)
    expires_at: datetime | None = None   # when done
    from_balance: Decimal = Decimal(0)
    invoice_amount: Decimal = Decimal(0)
    currency: str = ""
    invoice_url: str | None = None


# A change refused by payments: RpcError(CONFLICT, CHANGE_REFUSED + <common.shop.proration.Refusal>).
CHANGE_REFUSED = "change refused: "


def change_refusal(message: str) -> str | None:
    return message[len(CHANGE_REFUSED):] if message.startswith(CHANGE_REFUSED) else None


class TrafficPurchase(Body):
    """A traffic package paid from the balance, at once (an invoice: CreateInvoice.traffic_package)."""
    user_id: int
    package: str                         # an ATCS_TRAFFIC_PACKAGES id
    request_id: str                      # the tap's key: the same request is the same package


class TrafficBought(Body):
    purchase_id: int
    gb: int
    limit_bytes: int                     # the panel's limit from now on (raised by vpn_gateway shortly)
    balance: Decimal
    currency: str


# A package refused by payments: RpcError(CONFLICT, TRAFFIC_REFUSED + <TrafficRefusal>).
TRAFFIC_REFUSED = "traffic refused: "
TrafficRefusal = Literal["unknown_package", "not_eligible", "balance_short"]


def traffic_refusal(message: str) -> str | None:
    return message[len(TRAFFIC_REFUSED):] if message.startswith(TRAFFIC_REFUSED) else None


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
    # SuccessfulPayment's recurring fields, on the charges of a Stars subscription
    is_recurring: bool = False
    is_first_recurring: bool = False
    subscription_expiration_date: int | None = None   # unix time


class StarsRefunded(Body):
    """A refunded_payment the bot saw: Telegram returned a Stars payment (a chargeback, or our own refund)."""
    user_id: int
    telegram_payment_charge_id: str
    total_amount: int
    payload: str = ""


class StarSubscriptionEdit(Body):
    """Switch the renewal of the user's Stars subscription off (cancel=True) or back on."""
    user_id: int
    cancel: bool


class StarSubscriptionState(Body):
    purchase_id: int
    canceled: bool
    period_end: datetime | None = None


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
CLAIM_FREE_PLAN = method("claim_free_plan", "payments", FreePlanClaim, FreePlanGiven, retry_safe=True)  # keyed by request_id
CHANGE_PLAN = method("change_plan", "payments", PlanChange, PlanChanged, retry_safe=True)  # keyed by request_id
BUY_TRAFFIC = method("buy_traffic", "payments", TrafficPurchase, TrafficBought, retry_safe=True)  # keyed by request_id
REFUND = method("refund", "payments", PurchaseRef, PurchaseState, retry_safe=True)      # keyed by purchase id
STARS_REFUNDED = method("stars_refunded", "payments", StarsRefunded, PurchaseState, retry_safe=True)  # keyed by charge id
EDIT_STAR_SUBSCRIPTION = method("edit_star_subscription", "payments", StarSubscriptionEdit, StarSubscriptionState,
                                retry_safe=True)   # sets a state: repeating it is harmless
