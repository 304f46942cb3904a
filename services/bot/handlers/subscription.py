"""My subscription: status, expiry (or the pause and the time it keeps), traffic (live with a short
deadline, else the last known figure and its time), the device limit, the key with per-platform
instructions, reissue with confirmation, auto-renew, and a Telegram Stars subscription: when it
renews, and its renewal switched off or back on. Devices, pauses and traffic packages have their
own screens (handlers/devices.py, handlers/freeze.py, handlers/traffic.py)."""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from services.bot.settings import Settings
from common.contract.payments import StarSubscriptionEdit
from common.contract.vpn_gateway import UserAction
from common.db.database import Database
from common.ipc import RpcError
from common.texts import duration, money
from services.bot.callbacks import HowtoCb, MenuCb, ReissueCb, Screen, SubAction, SubCb, new_nonce
from services.bot.followups import Followups
from services.bot.formatting import date, days_left, key_block, traffic
from services.bot.handlers.traffic import sells_traffic
from services.bot.i18n import Translator
from services.bot.keyboards import subscription as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers, retry_until, transient
from services.bot.repositories import subscriptions
from services.bot.repositories.subscriptions import SubscriptionView
from services.bot.repositories.users import UserRow
from services.bot.states import Reissue
from services.bot.telegram.safe_edit import safe_edit, show
from services.bot.vpn_apps import app_for

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="subscription")
    r.message.register(subscription_command, Command("subscription"))
    r.callback_query.register(subscription_button, MenuCb.filter(F.to == Screen.SUBSCRIPTION))
    r.callback_query.register(subscription_button, SubCb.filter(F.action == SubAction.REFRESH))
    r.callback_query.register(howto, SubCb.filter(F.action == SubAction.HOWTO))
    r.callback_query.register(howto_platform, HowtoCb.filter())
    r.callback_query.register(auto_renew, SubCb.filter(F.action == SubAction.AUTO_RENEW))
    r.callback_query.register(stars_renewal, SubCb.filter(F.action.in_({SubAction.STARS_CANCEL,
                                                                       SubAction.STARS_RESUME})))
    r.callback_query.register(reissue_ask, SubCb.filter(F.action == SubAction.REISSUE))
    r.callback_query.register(reissue_answer, ReissueCb.filter(), StateFilter(Reissue.confirm))
    return r


async def render(user: UserRow, t: Translator, db: Database, peers: Peers,
                 settings: Settings) -> tuple[str, InlineKeyboardMarkup]:
    async with db.acquire() as conn:
        view = await subscriptions.overview(conn, user.id)
    # The connection is back in the pool before vpn_gateway is asked (never held across I/O).
    currency = settings.cryptopay.shop_currency
    if not view.exists:
        return t("sub.none", balance=money(view.balance, currency)), kb.overview(t, view, traffic=False)
    lines = [t("sub.title_trial") if view.is_trial else t("sub.title")]
    status = view.status if view.status in ("active", "expired", "revoked") else "active"
    if status == "active" and days_left(view.expires_at) == 0:
        status = "expired"
    if view.frozen:
        # Paused: the end date is not running; what is shown is what comes back at the resume.
        left = (view.expires_at - view.frozen_at).total_seconds()
        lines.append(t("freeze.status", date=date(view.frozen_until), left=duration(left, t.locale)))
    else:
        lines.append(_status(t, status))
        lines.append(t("sub.expires", date=date(view.expires_at), days=days_left(view.expires_at)))
    lines.append(await _traffic_line(user, t, view, peers))
    if view.device_limit:
        lines.append(t("sub.devices", limit=view.device_limit))
    if view.access_key:
        lines.append("")
        lines.append(t("sub.key", key=key_block(view.access_key)))
    elif not view.frozen:
        lines.append(t("sub.key_pending"))
    lines.append("")
    if view.has_stars_subscription:
        lines.append(_stars_line(t, view))
    lines.append(t("sub.autorenew_on") if view.auto_renew else t("sub.autorenew_off"))
    lines.append(t("sub.balance", balance=money(view.balance, currency)))
    return "\n".join(lines), kb.overview(t, view, traffic=sells_traffic(view, settings.traffic))


def _stars_line(t: Translator, view: SubscriptionView) -> str:
    amount = money(view.stars_amount, "XTR")
    if view.stars_refund_canceled:
        return t("sub.stars_refund_canceled")
    if not kb.stars_running(view):
        return t("sub.stars_ended", date=date(view.stars_period_end))
    if view.stars_canceled:
        return t("sub.stars_canceled", date=date(view.stars_period_end))
    return t("sub.stars_renews", amount=amount, date=date(view.stars_period_end))


def _status(t: Translator, status: str) -> str:
    # Spelled out so the translation-keys test sees each key.
    return {"active": t("sub.status_active"), "expired": t("sub.status_expired"),
            "revoked": t("sub.status_revoked")}[status]


async def _traffic_line(user: UserRow, t: Translator, view: SubscriptionView, peers: Peers) -> str:
    limit = t("traffic.unlimited") if not view.limit_bytes else traffic(view.limit_bytes)
    try:
        usage = await peers.usage(user.id)
        used, as_of, stale = usage.used_bytes, usage.as_of, usage.stale
        if usage.limit_bytes:
            limit = traffic(usage.limit_bytes)
    except RpcError:
        used, as_of, stale = view.used_bytes, view.used_checked_at, True
    if used is None:
        return t("sub.traffic_unknown", limit=limit)
    if stale and as_of is not None:
        return t("sub.traffic_as_of", used=traffic(used), limit=limit, date=date(as_of))
    return t("sub.traffic", used=traffic(used), limit=limit)


async def subscription_command(message: Message, user: UserRow, t: Translator, db: Database, peers: Peers,
                               settings: Settings) -> None:
    text, markup = await render(user, t, db, peers, settings)
    await message.answer(text, reply_markup=markup)


async def subscription_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database,
                              peers: Peers, settings: Settings, answer: Answer, state: FSMContext) -> None:
    await answer.now()  # traffic comes from vpn_gateway, which may take its whole deadline
    await state.clear()
    text, markup = await render(user, t, db, peers, settings)
    await show(bot, query.from_user.id, query.message, text, markup)


async def howto(query: CallbackQuery, bot: Bot, t: Translator) -> None:
    await show(bot, query.from_user.id, query.message, t("howto.choose"), kb.platforms(t))


async def howto_platform(query: CallbackQuery, callback_data: HowtoCb, bot: Bot, user: UserRow, t: Translator,
                         db: Database) -> None:
    async with db.acquire() as conn:
        view = await subscriptions.overview(conn, user.id)
    app = app_for(view.backend)
    texts = {"android": t("howto.android", app=app), "ios": t("howto.ios", app=app),
             "windows": t("howto.windows", app=app), "macos": t("howto.macos", app=app),
             "linux": t("howto.linux", app=app)}
    text = texts[callback_data.platform.value]
    if view.access_key:
        text += "\n\n" + t("sub.key", key=key_block(view.access_key))
    await show(bot, query.from_user.id, query.message, text, kb.back_to_subscription(t))


async def auto_renew(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, peers: Peers,
                     settings: Settings, answer: Answer) -> None:
    async with db.acquire() as conn:
        enabled = await subscriptions.toggle_auto_renew(conn, user.id)
    if enabled is None:
        answer.set(t("sub.none_toast"))
        return
    answer.set(t("sub.autorenew_enabled") if enabled else t("sub.autorenew_disabled"))
    text, markup = await render(user, t, db, peers, settings)
    await show(bot, query.from_user.id, query.message, text, markup)


async def stars_renewal(query: CallbackQuery, callback_data: SubCb, bot: Bot, user: UserRow, t: Translator,
                        db: Database, peers: Peers, settings: Settings, answer: Answer, followups: Followups) -> None:
    cancel = callback_data.action is SubAction.STARS_CANCEL
    request_id = f"stars-sub:{user.id}"
    if followups.running(request_id):
        answer.set(t("sub.stars_working"))
        return
    request = StarSubscriptionEdit(user_id=user.id, cancel=cancel)
    try:
        await peers.edit_star_subscription(request)
    except RpcError as exc:
        if not transient(exc):
            log.warning("stars subscription edit refused", extra={"code": str(exc.code), "user_id": user.id})
            answer.set(t("sub.stars_edit_failed"))
            return
        # payments is still asking Telegram: the screen is redrawn when it has answered.
        answer.set(t("sub.stars_working"))
        chat_id, shown = query.from_user.id, query.message.message_id if query.message else None
        followups.start(request_id, _stars_renewal_later(bot, user, t, db, peers, settings, request, chat_id, shown))
        return
    answer.set(t("sub.stars_canceled_toast") if cancel else t("sub.stars_resumed_toast"))
    text, markup = await render(user, t, db, peers, settings)
    await show(bot, query.from_user.id, query.message, text, markup)


async def _stars_renewal_later(bot: Bot, user: UserRow, t: Translator, db: Database, peers: Peers, settings: Settings,
                               request: StarSubscriptionEdit, chat_id: int, message_id: int | None) -> None:
    try:
        await retry_until(lambda timeout: peers.edit_star_subscription(request, timeout),
                          settings.bot.bot_followup_timeout, attempt=max(settings.bot.bot_rpc_deadline, 2.0))
    except RpcError:
        await safe_edit(bot, chat_id, message_id, t("sub.stars_edit_failed"), kb.back_to_subscription(t))
        return
    text, markup = await render(user, t, db, peers, settings)
    await safe_edit(bot, chat_id, message_id, text, markup)


async def reissue_ask(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database,
                      state: FSMContext, answer: Answer) -> None:
    async with db.acquire() as conn:
        view = await subscriptions.overview(conn, user.id)
    if not view.access_key:
        answer.set(t("sub.no_key_toast"))
        return
    nonce = new_nonce()
    await state.set_state(Reissue.confirm)
    await state.set_data({"reissue": nonce})
    await show(bot, query.from_user.id, query.message, t("sub.reissue_confirm"), kb.reissue_confirm(t, nonce))


async def reissue_answer(query: CallbackQuery, callback_data: ReissueCb, bot: Bot, user: UserRow, t: Translator,
                         db: Database, peers: Peers, settings: Settings, state: FSMContext, answer: Answer,
                         followups: Followups) -> None:
    data = await state.get_data()
    if data.get("reissue") != callback_data.nonce:
        answer.set(t("stale"))
        return
    chat_id = query.from_user.id
    if not callback_data.confirm:
        await state.clear()
        text, markup = await render(user, t, db, peers, settings)
        await show(bot, chat_id, query.message, text, markup)
        return
    request_id = f"reissue:{user.id}:{callback_data.nonce}"
    if followups.running(request_id):
        answer.set(t("sub.reissue_working"))
        return
    await answer.now()
    request = UserAction(user_id=user.id, request_id=request_id)
    shown = await show(bot, chat_id, query.message, t("sub.reissue_working"), None)
    try:
        await peers.reissue(request)
    except RpcError as exc:
        if not transient(exc):
            log.warning("reissue refused", extra={"code": str(exc.code), "user_id": user.id})
            await safe_edit(bot, chat_id, shown, t("sub.reissue_failed"), kb.back_to_subscription(t))
            return
        followups.start(request_id, _reissue_later(bot, peers, settings, request, chat_id, shown, t, state))
        return
    await state.clear()
    # The new key arrives as a KEY_REISSUED notification once vpn_gateway has rotated it.


async def _reissue_later(bot: Bot, peers: Peers, settings: Settings, request: UserAction, chat_id: int,
                         message_id: int, t: Translator, state: FSMContext) -> None:
    try:
        await retry_until(lambda timeout: peers.reissue(request, timeout), settings.bot.bot_followup_timeout,
                          attempt=max(settings.bot.bot_rpc_deadline, 2.0))
    except RpcError:
        await safe_edit(bot, chat_id, message_id, t("sub.reissue_failed"), kb.back_to_subscription(t))
        return
    await state.clear()
