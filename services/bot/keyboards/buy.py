from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.shop.plans import Plan
from common.shop.promos import Promo
from common.texts import money
from services.bot.callbacks import BuyOptCb, BuyOption, ChangeCb, MenuCb, PayCb, PayMethod, PlanCb, Screen, TopupCb, TrafficCb
from services.bot.i18n import Translator
from services.bot.promo_view import plan_button


def plans(t: Translator, flow: str, items: list[Plan], fiat: str, promo: Promo | None = None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for plan in items:
        kb.button(text=plan_button(t, plan, promo, fiat), callback_data=PlanCb(flow=flow, plan=plan.id))
    if promo is None:
        kb.button(text=t("buy.promo_button"), callback_data=BuyOptCb(flow=flow, option=BuyOption.PROMO))
    else:
        kb.button(text=t("buy.promo_drop_button", code=promo.code),
                  callback_data=BuyOptCb(flow=flow, option=BuyOption.DROP_PROMO))
    kb.button(text=t("buy.gifts_button"), callback_data=MenuCb(to=Screen.GIFTS))
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def methods(t: Translator, flow: str, cryptobot: bool, *, free: bool = False, gift: bool = False,
            monthly_stars: int | None = None) -> InlineKeyboardMarkup:
    """monthly_stars: the plan is also sold as a Stars subscription at this price a month."""
    kb = InlineKeyboardBuilder()
    if free:
        kb.button(text=t("buy.free_button"), callback_data=BuyOptCb(flow=flow, option=BuyOption.FREE))
    else:
        if cryptobot:
            kb.button(text=t("buy.method_cryptobot"), callback_data=PayCb(flow=flow, method=PayMethod.CRYPTOBOT))
        kb.button(text=t("buy.method_stars"), callback_data=PayCb(flow=flow, method=PayMethod.STARS))
        if monthly_stars is not None and not gift:
            kb.button(text=t("buy.method_stars_monthly", amount=money(monthly_stars, "XTR")),
                      callback_data=PayCb(flow=flow, method=PayMethod.STARS_MONTHLY))
        if gift:
            kb.button(text=t("buy.self_button"), callback_data=BuyOptCb(flow=flow, option=BuyOption.SELF))
        else:
            kb.button(text=t("buy.gift_button"), callback_data=BuyOptCb(flow=flow, option=BuyOption.GIFT))
    kb.button(text=t("nav.back"), callback_data=MenuCb(to=Screen.BUY))
    kb.adjust(1)
    return kb.as_markup()


def subscribe_url(t: Translator, url: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("invoice.subscribe_button"), url=url)
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def prompt(t: Translator) -> InlineKeyboardMarkup:
    """Under a question the user answers by typing: the way back to the plans."""
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.back"), callback_data=MenuCb(to=Screen.BUY))
    return kb.as_markup()


def pay_url(t: Translator, url: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("invoice.pay_button"), url=url)
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(1)
    return kb.as_markup()


def retry(t: Translator, again: PayCb | TopupCb | BuyOptCb | ChangeCb | TrafficCb) -> InlineKeyboardMarkup:
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
