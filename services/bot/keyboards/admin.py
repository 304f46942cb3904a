"""The admin console's keyboards."""
from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.contract.scheduler import BroadcastStatus, broadcast_callback
from services.bot.callbacks import (
    AdminBroadcastAction, AdminBroadcastCb, AdminBulkAction, AdminBulkCb, AdminCb, AdminExportCb, AdminScreen,
    AdminUserAction, AdminUserCb,
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
    kb.adjust(2, 2, 2, 1)
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


def broadcast_draft(t: Translator, nonce: str, audience: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for option in AUDIENCES:
        mark = "✅ " if option == audience else ""
        kb.button(text=mark + audience_label(t, option),
                  callback_data=AdminBroadcastCb(action=AdminBroadcastAction.AUDIENCE, nonce=nonce, audience=option))
    kb.button(text=t("admin.broadcast_send"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.SEND,
                                                                              nonce=nonce))
    kb.button(text=t("admin.broadcast_edit"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.EDIT,
                                                                              nonce=nonce))
    kb.button(text=t("admin.broadcast_drop"), callback_data=AdminBroadcastCb(action=AdminBroadcastAction.DROP,
                                                                              nonce=nonce))
    kb.adjust(2, 2, 1, 1, 2)
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
