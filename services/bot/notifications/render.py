"""Each notification kind (common/contract/outbox.py: Notice) as a message in the user's language.

A VPN key is never in a row's params: it is read from vpn_accounts here, at render time, and
goes only into the message to its owner.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from urllib.parse import quote

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.contract.outbox import Notice
from common.texts import money
from services.bot.formatting import date, key_block, traffic
from services.bot.gift_links import gift_link_of
from services.bot.i18n import Raw, Translator
from services.bot.keyboards.menu import main_menu
from services.bot.keyboards.subscription import key_message
from services.bot.repositories.notifications import Alert
from services.bot.repositories.subscriptions import KeyView
from services.bot.vpn_apps import app_for


@dataclass(frozen=True)
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None


def _key_text(t: Translator, key: KeyView | None) -> str:
    if key is None or not key.access_key:
        return t("notice.key_missing")
    return t("sub.key", key=key_block(key.access_key))


def _key_ready(t: Translator, p: dict[str, Any], key: KeyView | None) -> Rendered:
    head = t("notice.key_ready_trial", date=date(p.get("expires_at") or (key.expires_at if key else None))) \
        if p.get("is_trial") else t("notice.key_ready", date=date(p.get("expires_at") or (key.expires_at if key else None)))
    return Rendered(head + "\n\n" + _key_text(t, key) + "\n\n" + _howto(t, key), key_message(t))


def _key_reissued(t: Translator, p: dict[str, Any], key: KeyView | None) -> Rendered:
    return Rendered(t("notice.key_reissued") + "\n\n" + _key_text(t, key) + "\n\n" + _howto(t, key),
                    key_message(t))


def _howto(t: Translator, key: KeyView | None) -> str:
    return t("notice.key_howto", app=app_for(key.backend if key else None))


def _money(p: dict[str, Any], amount: str = "amount") -> str:
    value = p.get(amount)
    return money(value, p.get("currency") or "USD") if value is not None else "—"


def _gift_ready(t: Translator, p: dict[str, Any], key: KeyView | None) -> Rendered:
    # BOT_USERNAME is added by the sender (NEEDS_USERNAME): only the bot knows how it is called.
    link = gift_link_of(str(p.get(BOT_USERNAME) or ""), str(p.get("token") or ""))
    share = InlineKeyboardBuilder()
    share.button(text=t("notice.gift_share"), url=f"https://t.me/share/url?url={quote(link, safe='')}")
    return Rendered(t("notice.gift_ready", days=p.get("days", "—"), date=date(p.get("valid_until")),
                      link=Raw(f"<code>{html.escape(link)}</code>")), share.as_markup())


def _refunded(t: Translator, p: dict[str, Any]) -> str:
    """What a refund took back: nothing (a top-up, a gift), some days, or the access itself."""
    days = p.get("days")
    if p.get("revoked"):
        text = t("notice.refunded_revoked", amount=_money(p))
    elif isinstance(days, int) and days > 0:
        text = t("notice.refunded_days", amount=_money(p), days=days, date=date(p.get("expires_at")))
    else:
        text = t("notice.refunded", amount=_money(p))
    if p.get("renewal_canceled"):
        text += "\n\n" + t("notice.refund_renewal_canceled")
    return text


BOT_USERNAME = "_bot_username"

RENDERERS: dict[str, Callable[[Translator, dict[str, Any], KeyView | None], Rendered]] = {
    Notice.KEY_READY: _key_ready,
    Notice.KEY_REISSUED: _key_reissued,
    Notice.SUBSCRIPTION_EXTENDED: lambda t, p, k: Rendered(
        t("notice.subscription_extended", date=date(p.get("expires_at"))), key_message(t)),
    Notice.ACCESS_REVOKED: lambda t, p, k: Rendered(t("notice.access_revoked", reason=str(p.get("reason") or "—"))),
    Notice.ACTIVATION_DELAYED: lambda t, p, k: Rendered(t("notice.activation_delayed")),
    Notice.PAYMENT_RECEIVED: lambda t, p, k: Rendered(
        t("notice.payment_received", amount=_money(p), date=date(p.get("expires_at")))),
    Notice.PAYMENT_FLAGGED: lambda t, p, k: Rendered(t("notice.payment_flagged", purchase=p.get("purchase_id", "—"))),
    Notice.TOPUP_RECEIVED: lambda t, p, k: Rendered(
        t("notice.topup_received", amount=_money(p), balance=_money(p, "balance"))),
    Notice.REFERRAL_BONUS: lambda t, p, k: Rendered(
        t("notice.referral_bonus", days=p.get("days", "—"), date=date(p.get("expires_at")))),
    Notice.EXPIRY_REMINDER: lambda t, p, k: Rendered(
        t("notice.expiry_reminder", days=p.get("days_left", "—"), date=date(p.get("expires_at"))), main_menu(t)),
    Notice.TRIAL_ENDING: lambda t, p, k: Rendered(t("notice.trial_ending", date=date(p.get("expires_at"))),
                                                  main_menu(t)),
    Notice.SUBSCRIPTION_EXPIRED: lambda t, p, k: Rendered(t("notice.subscription_expired"), main_menu(t)),
    Notice.AUTO_RENEWED: lambda t, p, k: Rendered(
        t("notice.auto_renewed", date=date(p.get("expires_at")), amount=_money(p))),
    Notice.AUTO_RENEW_FAILED: lambda t, p, k: Rendered(
        t("notice.auto_renew_failed", needed=_money(p, "needed"), balance=_money(p, "balance")), main_menu(t)),
    Notice.REFUNDED: lambda t, p, k: Rendered(_refunded(t, p)),
    Notice.ADMIN_GRANT: lambda t, p, k: Rendered(
        t("notice.admin_grant", days=p.get("days", "—"), date=date(p.get("expires_at"))), key_message(t)),
    Notice.GIFT_READY: _gift_ready,
    Notice.PLAN_CHANGED: lambda t, p, k: Rendered(
        t("notice.plan_changed", plan=str(p.get("plan_code") or "—"), date=date(p.get("expires_at"))), key_message(t)),
    Notice.PLAN_CHANGE_FAILED: lambda t, p, k: Rendered(t("notice.plan_change_failed", amount=_money(p))),
    Notice.TRAFFIC_ADDED: lambda t, p, k: Rendered(
        t("notice.traffic_added", gb=p.get("gb", "—"), limit=traffic(p.get("limit_bytes"))), key_message(t)),
    Notice.GIFT_REDEEMED: lambda t, p, k: Rendered(
        t("notice.gift_redeemed", name=str(p.get("name") or "—"), days=p.get("days", "—"))),
    Notice.STARS_RENEWS: lambda t, p, k: Rendered(
        t("notice.stars_renews", date=date(p.get("renews_at")),
          amount=money(p["amount"], "XTR") if p.get("amount") is not None else "—"), main_menu(t)),
}

# Kinds whose message shows the key: the sender loads vpn_accounts for these only.
NEEDS_KEY = {Notice.KEY_READY.value, Notice.KEY_REISSUED.value}
# Kinds whose message carries a link that names this bot: the sender asks for its username.
NEEDS_USERNAME = {Notice.GIFT_READY.value}


def render(kind: str, params: dict[str, Any], t: Translator, key: KeyView | None) -> Rendered | None:
    """None for a kind this bot does not know (the row is marked failed, not retried forever)."""
    renderer = RENDERERS.get(kind)
    return renderer(t, params, key) if renderer else None


# ops/fatal_listener.py: subject "group:process", detail supervisord's event payload.
PROCESS_FATAL = "process_fatal"
# services/payments/confirmation.py: a signed webhook claim Crypto Pay's getInvoices contradicts.
CLAIM_CONTRADICTED = "payment_claim_contradicted"


def render_alert(t: Translator, alert: Alert) -> str:
    """An alert for the admins: what happened, to what, and when; the raw detail below."""
    detail = dict(alert.detail)
    if alert.kind == PROCESS_FATAL:
        text = t("admin.alert_fatal", program=alert.subject, date=date(alert.created_at),
                 state=str(detail.pop("from_state", None) or "—"))
        detail = {k: v for k, v in detail.items() if k not in ("processname", "groupname")}
    elif alert.kind == CLAIM_CONTRADICTED:
        text = t("admin.alert_claim_contradicted", invoice=str(detail.pop("invoice_id", alert.subject)),
                 differs=str(detail.pop("differs", "—")), date=date(alert.created_at))
        detail.pop("action", None)
    else:
        text = t("admin.alert", kind=alert.kind, subject=alert.subject, date=date(alert.created_at))
    if detail:
        shown = orjson.dumps(detail, option=orjson.OPT_INDENT_2, default=str).decode()
        text += "\n<pre>" + html.escape(shown[:3000]) + "</pre>"
    return text
