"""What a plan costs with a promo code: the one arithmetic the bot shows and payments invoices.

Rules (issue 12, acceptance): never negative, never more than the list price, money rounded to
the shop currency's minor unit (cents) half-up, Stars whole. A price that is not free stays at
least one Star (Telegram's smallest invoice), and a free price is free in both currencies, so a
code never makes one payment method free and the other not.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from common.shop.plans import Plan

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Discount:
    """The part of a promo code that changes a price (see common/shop/promos.py)."""
    kind: str           # percent | amount | days | free_plan
    value: Decimal      # percent off, amount off (shop currency), or bonus days; 0 for free_plan


@dataclass(frozen=True)
class Price:
    amount: Decimal     # in the shop currency
    stars: int
    days: int
    list_amount: Decimal
    list_stars: int

    @property
    def free(self) -> bool:
        return self.amount == 0

    @property
    def discounted(self) -> bool:
        return self.amount < self.list_amount


def list_price(plan: Plan) -> Price:
    return Price(amount=plan.price, stars=plan.stars_price, days=plan.days, list_amount=plan.price,
                 list_stars=plan.stars_price)


def quote(plan: Plan, discount: Discount | None) -> Price:
    base = list_price(plan)
    if discount is None:
        return base
    if discount.kind == "days":
        return Price(amount=base.amount, stars=base.stars, days=plan.days + int(discount.value),
                     list_amount=base.amount, list_stars=base.stars)
    if discount.kind == "free_plan":
        share = Decimal(0)
        amount = Decimal(0)
    elif discount.kind == "percent":
        share = (HUNDRED - min(max(discount.value, Decimal(0)), HUNDRED)) / HUNDRED
        amount = (plan.price * share).quantize(CENT, rounding=ROUND_HALF_UP)
    elif discount.kind == "amount":
        amount = max(plan.price - max(discount.value, Decimal(0)), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
        share = amount / plan.price
    else:
        raise ValueError(f"unknown discount kind {discount.kind!r}")
    if amount == 0:
        return Price(amount=Decimal("0.00"), stars=0, days=plan.days, list_amount=base.amount, list_stars=base.stars)
    stars = int((plan.stars_price * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Price(amount=min(amount, plan.price), stars=min(max(stars, 1), plan.stars_price), days=plan.days,
                 list_amount=base.amount, list_stars=base.stars)
