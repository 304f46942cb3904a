"""The admin console's keyboards."""
from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.contract.scheduler import BroadcastStatus, broadcast_callback
from common.shop.plans import Plan
from services.bot.callbacks import (
    AdminBroadcastAction, AdminBroadcastCb, AdminBroadcastModeCb, AdminBulkAction, AdminBulkCb, AdminCb, AdminExportCb, AdminPromoAction,
    AdminPromoCb, AdminScreen, AdminUserAction, AdminUserCb,
)
from services.bot.i18n import Translator
from services.bot.repositories.admin_users import PurchaseRow, UserCard

GRANT_DAYS = (1, 7, 30, 90)
AUDIENCES = ("all", "active", "inactive", "trial", "never_subscribed")
EXPORT_KINDS = ("users", "subscriptions", "payments")


def home(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.stats_button"), callback_data=AdminCb(to=AdminScreen.STATS))
    kb.button(text=t("admin.users_button"), callback_data=AdminCb(to=AdminScreen.USERS))
    kb.button(text=t("admin.broadcast_button"), callback_data=AdminCb(to=AdminScreen.BROADCAST))
    kb.button(text=t("admin.export_button"), callback_data=AdminCb(to=AdminScreen.EXPORT))
    kb.button(text=t("admin.bulk_button"), callback_data=AdminCb(to=AdminScreen.BULK))
    kb.button(text=t("admin.status_button"), callback_data=AdminCb(to=AdminScreen.STATUS))
    kb.button(text=t("admin.audit_button"), callback_data=AdminCb(to=AdminScreen.AUDIT))
    kb.button(text=t("admin.promos_button"), callback_data=AdminCb(to=AdminScreen.PROMOS))
    kb.adjust(2, 2, 2, 2)
    return kb.as_markup()


def _back(kb: InlineKeyboardBuilder, t: Translator) -> None:
    kb.button(text=t("admin.back"), callback_data=AdminCb(to=AdminScreen.HOME))


def back_home(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    _back(kb, t)
    return kb.as_markup()


def refreshable(t: Translator, screen: AdminScreen) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.refresh"), callback_data=AdminCb(to=screen))
    _back(kb, t)
    kb.adjust(2)
    return kb.as_markup()


def stats(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.chart_button"), callback_data=AdminCb(to=AdminScreen.CHART))
    kb.button(text=t("admin.refresh"), callback_data=AdminCb(to=AdminScreen.STATS))
    _back(kb, t)
    kb.adjust(1, 2)
    return kb.as_markup()


def user_card(t: Translator, card: UserCard, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()

    def button(text: str, action: AdminUserAction, arg: int = 0) -> None:
        kb.button(text=text, callback_data=AdminUserCb(action=action, user=card.id, nonce=nonce, arg=arg))

    for days in GRANT_DAYS:
        button(t("admin.grant_button", days=days), AdminUserAction.GRANT, days)
    button(t("admin.grant_other_button"), AdminUserAction.GRANT_OTHER)
    if card.is_banned:
        button(t("admin.unban_button"), AdminUserAction.UNBAN)
    else:
        button(t("admin.ban_button"), AdminUserAction.BAN)
    button(t("admin.reissue_button"), AdminUserAction.REISSUE)
    button(t("admin.purchases_button"), AdminUserAction.PURCHASES)
    button(t("admin.refresh"), AdminUserAction.SHOW)
    _back(kb, t)
    kb.adjust(len(GRANT_DAYS), 1, 2, 1, 2)
    return kb.as_markup()


def back_to_user(t: Translator, user_id: int, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.back_to_user"),
              callback_data=AdminUserCb(action=AdminUserAction.SHOW, user=user_id, nonce=nonce))
    return kb.as_markup()


def confirm_reissue(t: Translator, user_id: int, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.reissue_yes"),
              callback_data=AdminUserCb(action=AdminUserAction.REISSUE_OK, user=user_id, nonce=nonce))
    kb.button(text=t("admin.cancel"), callback_data=AdminUserCb(action=AdminUserAction.SHOW, user=user_id, nonce=nonce))
    kb.adjust(2)
    return kb.as_markup()


def purchases(t: Translator, user_id: int, nonce: str, rows: list[PurchaseRow]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for row in rows:
        if row.refundable:
            kb.button(text=t("admin.refund_button", id=row.id),
                      callback_data=AdminUserCb(action=AdminUserAction.REFUND, user=user_id, nonce=nonce, arg=row.id))
    kb.button(text=t("admin.back_to_user"),
              callback_data=AdminUserCb(action=AdminUserAction.SHOW, user=user_id, nonce=nonce))
    kb.adjust(1)
    return kb.as_markup()


def confirm_refund(t: Translator, user_id: int, nonce: str, purchase_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.refund_yes"),
              callback_data=AdminUserCb(action=AdminUserAction.REFUND_OK, user=user_id, nonce=nonce, arg=purchase_id))
    kb.button(text=t("admin.cancel"),
              callback_data=AdminUserCb(action=AdminUserAction.PURCHASES, user=user_id, nonce=nonce))
    kb.adjust(2)
    return kb.as_markup()


def audience_label(t: Translator, audience: str) -> str:
    labels = {"all": t("admin.audience_all"), "active": t("admin.audience_active"),
              "inactive": t("admin.audience_inactive"), "trial": t("admin.audience_trial"),
              "never_subscribed": t("admin.audience_never")}
    return labels[audience]


def broadcast_draft(t: Translator, nonce: str, audience: str, *, paid: bool = False,
                    can_send: bool = True) -> InlineKeyboardMarkup:
    """Audience, pace (free / paid), then Send — absent while a paid draft's cost is not shown or
    the bot's Stars do not cover it."""
    kb = InlineKeyboardBuilder()
    for option in AUDIENCES:
        mark = "✅ " if option == audience else ""
        kb.button(text=mark + audience_label(t, option),
                  callback_data=AdminBroadcastCb(action=AdminBroadcastAction.AUDIENCE, nonce=nonce, audience=option))
    for option, label in ((False, "admin.broadcast_mode_free"), (True, "admin.broadcast_mode_paid")):
        kb.button(text=("✅ " if option == paid else "") + t(label),
                  callback_data=AdminBroadcastModeCb(nonce=nonce, paid=option))
    if can_send:
        kb.button(text=t("admin.broadcast_send"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.SEND,
                                                                                  nonce=nonce))
    kb.button(text=t("admin.broadcast_edit"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.EDIT,
                                                                              nonce=nonce))
    kb.button(text=t("admin.broadcast_drop"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.DROP,
                                                                              nonce=nonce))
    kb.adjust(2, 2, 1, 2, *((1,) if can_send else ()), 2)
    return kb.as_markup()


def broadcast_controls(t: Translator, broadcast_id: int, state: BroadcastStatus) -> InlineKeyboardMarkup | None:
    """The same buttons the scheduler puts under its progress message (contract callback data)."""
    kb = InlineKeyboardBuilder()
    if state in ("queued", "running"):
        kb.button(text=t("admin.broadcast_pause"), callback_data=broadcast_callback("pause", broadcast_id))
    elif state == "paused":
        kb.button(text=t("admin.broadcast_resume"), callback_data=broadcast_callback("resume", broadcast_id))
    else:
        return None
    kb.button(text=t("admin.broadcast_cancel"), callback_data=broadcast_callback("cancel", broadcast_id))
    kb.adjust(2)
    return kb.as_markup()


def export(t: Translator, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    labels = {"users": t("admin.export_users"), "subscriptions": t("admin.export_subscriptions"),
              "payments": t("admin.export_payments")}
    for kind in EXPORT_KINDS:
        kb.button(text=labels[kind], callback_data=AdminExportCb(kind=kind, nonce=nonce))
    _back(kb, t)
    kb.adjust(3, 1)
    return kb.as_markup()


def bulk_confirm(t: Translator, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.bulk_yes"), callback_data=AdminBulkCb(action=AdminBulkAction.START, nonce=nonce))
    _back(kb, t)
    kb.adjust(1)
    return kb.as_markup()


def bulk_progress(t: Translator, job_id: int, running: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("admin.refresh"), callback_data=AdminBulkCb(action=AdminBulkAction.REFRESH, job=job_id))
    if running:
        kb.button(text=t("admin.bulk_cancel"), callback_data=AdminBulkCb(action=AdminBulkAction.CANCEL, job=job_id))
    _back(kb, t)
    kb.adjust(2 if running else 1, 1)
    return kb.as_markup()


# --- promo codes ---------------------------------------------------------------------------------

PROMO_KINDS = ("percent", "amount", "days", "free_plan")   # AdminPromoCb.arg of KIND is the 1-based index


def promos(t: Translator, codes: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code_id, code in codes:
        kb.button(text=code, callback_data=AdminPromoCb(action=AdminPromoAction.SHOW, code=code_id))
    kb.button(text=t("admin.promo_new_button"), callback_data=AdminPromoCb(action=AdminPromoAction.NEW))
    _back(kb, t)
    kb.adjust(*([3] * (len(codes) // 3) + ([len(codes) % 3] if len(codes) % 3 else [])), 1, 1)
    return kb.as_markup()


def _back_to_promos(kb: InlineKeyboardBuilder, t: Translator) -> None:
    kb.button(text=t("admin.promos_back"), callback_data=AdminCb(to=AdminScreen.PROMOS))


def back_to_promos(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    _back_to_promos(kb, t)
    return kb.as_markup()


def promo_card(t: Translator, code_id: int, disabled: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if not disabled:
        kb.button(text=t("admin.promo_disable_button"), callback_data=AdminPromoCb(action=AdminPromoAction.DISABLE,
                                                                                     code=code_id))
    kb.button(text=t("admin.refresh"), callback_data=AdminPromoCb(action=AdminPromoAction.SHOW, code=code_id))
    _back_to_promos(kb, t)
    kb.adjust(1 if not disabled else 2, 2)
    return kb.as_markup()


def promo_kinds(t: Translator, nonce: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    labels = {"percent": t("admin.promo_kind_percent_button"), "amount": t("admin.promo_kind_amount_button"),
              "days": t("admin.promo_kind_days_button"), "free_plan": t("admin.promo_kind_free_button")}
    for index, kind in enumerate(PROMO_KINDS, start=1):
        kb.button(text=labels[kind], callback_data=AdminPromoCb(action=AdminPromoAction.KIND, nonce=nonce, arg=index))
    kb.button(text=t("admin.cancel"), callback_data=AdminCb(to=AdminScreen.PROMOS))
    kb.adjust(2, 2, 1)
    return kb.as_markup()


def promo_draft(t: Translator, nonce: str, items: list[Plan], chosen: list[int], *, uses: str, once: bool,
                first: bool, valid_from: str, valid_until: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()

    def button(text: str, action: AdminPromoAction, arg: int = 0) -> None:
        kb.button(text=text, callback_data=AdminPromoCb(action=action, nonce=nonce, arg=arg))

    for plan in items:
        button(("✅ " if plan.id in chosen else "▫️ ") + plan.code, AdminPromoAction.PLAN, plan.id)
    yes, no = t("admin.yes"), t("admin.no")
    button(t("admin.promo_uses_button", uses=uses), AdminPromoAction.USES)
    button(t("admin.promo_once_button", value=yes if once else no), AdminPromoAction.ONCE)
    button(t("admin.promo_first_button", value=yes if first else no), AdminPromoAction.FIRST)
    button(t("admin.promo_dates_button", valid_from=valid_from, valid_until=valid_until), AdminPromoAction.DATES)
    button(t("admin.promo_create_button"), AdminPromoAction.CREATE)
    kb.button(text=t("admin.cancel"), callback_data=AdminCb(to=AdminScreen.PROMOS))
    kb.adjust(*([2] * (len(items) // 2) + ([1] if len(items) % 2 else [])), 1, 1, 1, 1, 2)
    return kb.as_markup()
