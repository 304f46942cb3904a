from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.shop.plans import Plan
from common.texts import money
from services.bot.callbacks import MenuCb, PayCb, PayMethod, PlanCb, Screen, TopupCb
from services.bot.i18n import Translator


def plans(t: Translator, flow: str, items: list[Plan], fiat: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for plan in items:
        kb.button(text=t("buy.plan_button", days=plan.days, price=money(plan.price, fiat),
                         stars=money(plan.stars_price, "XTR")),
                  callback_data=PlanCb(flow=flow, plan=plan.id))
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def methods(t: Translator, flow: str, cryptobot: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if cryptobot:
        kb.button(text=t("buy.method_cryptobot"), callback_data=PayCb(flow=flow, method=PayMethod.CRYPTOBOT))
    kb.button(text=t("buy.method_stars"), callback_data=PayCb(flow=flow, method=PayMethod.STARS))
    kb.button(text=t("nav.back"), callback_data=MenuCb(to=Screen.BUY))
    kb.adjust(1)
    return kb.as_markup()


def pay_url(t: Translator, url: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("invoice.pay_button"), url=url)
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def retry(t: Translator, again: PayCb | TopupCb) -> InlineKeyboardMarkup:
    """Same callback data as the tap that started it: the same idempotency key, the same invoice."""
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.try_again"), callback_data=again)
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def topups(t: Translator, flow: str, amounts: tuple[int, ...], fiat: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for amount in amounts:
        kb.button(text=t("balance.topup_button", amount=money(amount, fiat)),
                  callback_data=TopupCb(flow=flow, amount=amount))
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(len(amounts) or 1, 1)
    return kb.as_markup()
