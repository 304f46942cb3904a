from __future__ import annotations

from datetime import datetime, timezone

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from services.bot.callbacks import ChangeCb, HowtoCb, MenuCb, Platform, ReissueCb, Screen, SubAction, SubCb
from services.bot.i18n import Translator
from services.bot.repositories.subscriptions import SubscriptionView


def overview(t: Translator, view: SubscriptionView, *, traffic: bool) -> InlineKeyboardMarkup:
    """`traffic`: traffic packages are sold to this subscription (handlers/traffic.py: sells_traffic)."""
    kb = InlineKeyboardBuilder()
    if not view.exists:
        kb.button(text=t("menu.buy"), callback_data=MenuCb(to=Screen.BUY))
        kb.button(text=t("menu.trial"), callback_data=MenuCb(to=Screen.TRIAL))
        kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
        kb.adjust(2, 1)
        return kb.as_markup()
    if view.access_key:
        kb.button(text=t("sub.howto_button"), callback_data=SubCb(action=SubAction.HOWTO))
        kb.button(text=t("sub.reissue_button"), callback_data=SubCb(action=SubAction.REISSUE))
    kb.button(text=t("sub.autorenew_off_button") if view.auto_renew else t("sub.autorenew_on_button"),
              callback_data=SubCb(action=SubAction.AUTO_RENEW))
    stars = stars_running(view)
    if stars:
        kb.button(text=t("sub.stars_resume_button") if view.stars_canceled else t("sub.stars_cancel_button"),
                  callback_data=SubCb(action=SubAction.STARS_RESUME if view.stars_canceled
                                      else SubAction.STARS_CANCEL))
    kb.button(text=t("menu.buy_renew"), callback_data=MenuCb(to=Screen.BUY))
    changeable = view.plan_code is not None and not view.is_trial and view.status == "active" and not view.frozen
    if changeable:
        kb.button(text=t("change.button"), callback_data=SubCb(action=SubAction.CHANGE))
    if traffic:
        kb.button(text=t("traffic.button"), callback_data=SubCb(action=SubAction.TRAFFIC))
    # Pause and devices share a row: pause (or resume) for a paid plan, devices for any subscription.
    pausable = view.plan_code is not None and not view.is_trial and view.status == "active"
    if view.frozen:
        kb.button(text=t("freeze.resume_button"), callback_data=SubCb(action=SubAction.UNFREEZE))
    elif pausable:
        kb.button(text=t("freeze.button"), callback_data=SubCb(action=SubAction.FREEZE))
    kb.button(text=t("sub.devices_button"), callback_data=SubCb(action=SubAction.DEVICES))
    kb.button(text=t("sub.refresh_button"), callback_data=SubCb(action=SubAction.REFRESH))
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    rows = [2] if view.access_key else []
    kb.adjust(*rows, 1, *([1] if stars else []), 1, *([1] if changeable else []), *([1] if traffic else []),
              2 if (view.frozen or pausable) else 1, 2)
    return kb.as_markup()


def stars_running(view: SubscriptionView) -> bool:
    """A Stars subscription whose paid period has not ended: its renewal can be switched (not
    after a refund cancelled it: the user subscribes again instead)."""
    return view.has_stars_subscription and view.stars_period_end is not None and \
        view.stars_period_end > datetime.now(timezone.utc) and not view.stars_refund_canceled


def change_plans(t: Translator, nonce: str, items: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for plan_id, label in items:
        kb.button(text=label, callback_data=ChangeCb(nonce=nonce, plan=plan_id))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return kb.as_markup()


def change_confirm(t: Translator, nonce: str, plan_id: int, label: str | None) -> InlineKeyboardMarkup:
    """`label` None: the change cannot be confirmed from here (the balance is short and no invoice can be made)."""
    kb = InlineKeyboardBuilder()
    if label is not None:
        kb.button(text=label, callback_data=ChangeCb(nonce=nonce, plan=plan_id, confirm=True))
    kb.button(text=t("change.other_plan"), callback_data=SubCb(action=SubAction.CHANGE))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return kb.as_markup()


def reissue_confirm(t: Translator, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("sub.reissue_yes"), callback_data=ReissueCb(nonce=nonce, confirm=True))
    kb.button(text=t("sub.reissue_no"), callback_data=ReissueCb(nonce=nonce, confirm=False))
    kb.adjust(2)
    return kb.as_markup()


def platforms(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    labels = {Platform.ANDROID: t("howto.android_button"), Platform.IOS: t("howto.ios_button"),
              Platform.WINDOWS: t("howto.windows_button"), Platform.MACOS: t("howto.macos_button"),
              Platform.LINUX: t("howto.linux_button")}
    for platform, label in labels.items():
        kb.button(text=label, callback_data=HowtoCb(platform=platform))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(2, 2, 1, 1)
    return kb.as_markup()


def back_to_subscription(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("sub.howto_other"), callback_data=SubCb(action=SubAction.HOWTO))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return kb.as_markup()


def key_message(t: Translator) -> InlineKeyboardMarkup:
    """Under a delivered key: how to connect, and the subscription screen."""
    kb = InlineKeyboardBuilder()
    kb.button(text=t("sub.howto_button"), callback_data=SubCb(action=SubAction.HOWTO))
    kb.button(text=t("menu.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return kb.as_markup()


def to_subscription(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    return kb.as_markup()
