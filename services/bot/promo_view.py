"""Promo codes as a buyer sees them: judging a typed code (the one sentence that says why not),
and how a code changes a plan's button and summary. Prices come from common/shop/pricing.py, the
arithmetic payments invoices with."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from common.shop import plans as shop_plans
from common.shop import promos
from common.shop.plans import Plan
from common.shop.pricing import Price, quote
from common.shop.promos import Promo, Refusal
from common.texts import money
from services.bot.i18n import Translator

# What a person typed, as they typed it, in a refusal: bounded, so a pasted essay stays out.
_SHOWN = 40


@dataclass(frozen=True)
class Judged:
    promo: Promo | None
    refusal: Refusal | None
    shown: str               # the code as it is named to the user


async def judge_typed(conn: asyncpg.Connection, text: str, user_id: int) -> Judged:
    """A code typed by a buyer (or from a promo_ deep link): usable by them for some plan on sale?"""
    code = promos.normalize(text)
    shown = code or text.strip()[:_SHOWN]
    promo = await promos.find(conn, code) if code else None
    if promo is None:
        return Judged(None, Refusal.UNKNOWN, shown)
    refusal = await promos.judge(conn, promo, user_id, None)
    if refusal is None and not any(promo.applies_to(p.id) for p in await shop_plans.active(conn)):
        refusal = Refusal.NOT_APPLICABLE
    return Judged(promo if refusal is None else None, refusal, promo.code)


def refusal_text(t: Translator, refusal: Refusal | str, code: str) -> str:
    texts = {
        Refusal.UNKNOWN: t("promo.refused_unknown", code=code),
        Refusal.DISABLED: t("promo.refused_disabled", code=code),
        Refusal.NOT_YET: t("promo.refused_not_yet", code=code),
        Refusal.EXPIRED: t("promo.refused_expired", code=code),
        Refusal.USED_UP: t("promo.refused_used_up", code=code),
        Refusal.ALREADY_USED: t("promo.refused_already_used", code=code),
        Refusal.NOT_APPLICABLE: t("promo.refused_not_applicable", code=code),
        Refusal.FIRST_PURCHASE_ONLY: t("promo.refused_first_purchase_only", code=code),
    }
    return texts.get(refusal, texts[Refusal.UNKNOWN])


def applied_text(t: Translator, promo: Promo, currency: str) -> str:
    if promo.kind == "percent":
        return t("promo.applied_percent", code=promo.code, percent=int(promo.value))
    if promo.kind == "amount":
        return t("promo.applied_amount", code=promo.code, amount=money(promo.value, currency))
    if promo.kind == "days":
        return t("promo.applied_days", code=promo.code, days=int(promo.value))
    return t("promo.applied_free", code=promo.code)


def price_of(plan: Plan, promo: Promo | None) -> Price:
    """The plan's price with the code, when the code applies to it."""
    return quote(plan, promo.discount if promo is not None and promo.applies_to(plan.id) else None)


def plan_button(t: Translator, plan: Plan, promo: Promo | None, currency: str) -> str:
    price = price_of(plan, promo)
    if price.free:
        return t("buy.plan_button_free", days=price.days)
    if price.discounted:
        return t("buy.plan_button_promo", days=price.days, price=money(price.amount, currency),
                 list_price=money(price.list_amount, currency), stars=money(price.stars, "XTR"))
    return t("buy.plan_button", days=price.days, price=money(price.amount, currency), stars=money(price.stars, "XTR"))


def plan_summary(t: Translator, plan: Plan, promo: Promo | None, currency: str, traffic: str) -> str:
    price = price_of(plan, promo)
    common = {"days": price.days, "price": money(price.amount, currency), "stars": money(price.stars, "XTR"),
              "traffic": traffic}
    if promo is None:
        return t("buy.plan_summary", **common)
    if not promo.applies_to(plan.id):
        return t("buy.plan_summary", **common) + "\n\n" + t("buy.promo_not_for_plan", code=promo.code)
    if price.free:
        return t("buy.plan_summary_free", days=price.days, code=promo.code, traffic=traffic)
    if price.discounted:
        return t("buy.plan_summary_promo", code=promo.code, list_price=money(price.list_amount, currency),
                 list_stars=money(price.list_stars, "XTR"), **common)
    return t("buy.plan_summary_bonus", code=promo.code, bonus=price.days - plan.days, **common)
