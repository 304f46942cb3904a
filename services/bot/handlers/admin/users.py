"""One user: lookup by id or @username, the card, grant days, ban / unban, reissue the key
(vpn_gateway), purchases and refunds (payments). Every button carries the card's nonce, which
makes the request_id of what it starts: a double tap repeats the same request, never a second
grant or refund."""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.contract.payments import PurchaseRef
from common.contract.vpn_gateway import UserAction
from common.db.database import Database
from common.ipc import RpcError
from common.texts import money
from services.bot.handlers.admin.grant import MAX_DAYS, grant
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminCb, AdminScreen, AdminUserAction, AdminUserCb
from services.bot.formatting import date
from services.bot.callbacks import new_nonce
from services.bot.handlers.admin.shared import rpc_problem
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers
from services.bot.repositories import admin_audit, admin_users
from services.bot.repositories.admin_users import PurchaseRow, UserCard
from services.bot.states import Admin
from services.bot.telegram.safe_edit import show
from services.bot.typed import positive_id

log = logging.getLogger(__name__)
_TYPED = F.text & ~F.text.startswith("/")   # typed input; a command still works in any state


def router() -> Router:
    r = Router(name="admin.users")
    r.callback_query.register(lookup_prompt, AdminCb.filter(F.to == AdminScreen.USERS))
    r.message.register(user_command, Command("user"))
    r.message.register(lookup_typed, StateFilter(Admin.lookup), _TYPED)
    r.message.register(grant_typed, StateFilter(Admin.grant_days), _TYPED)
    r.callback_query.register(card_button, AdminUserCb.filter(F.action == AdminUserAction.SHOW))
    r.callback_query.register(grant_button, AdminUserCb.filter(F.action == AdminUserAction.GRANT))
    r.callback_query.register(grant_other, AdminUserCb.filter(F.action == AdminUserAction.GRANT_OTHER))
    r.callback_query.register(ban_button, AdminUserCb.filter(F.action.in_({AdminUserAction.BAN,
                                                                           AdminUserAction.UNBAN})))
    r.callback_query.register(reissue_ask, AdminUserCb.filter(F.action == AdminUserAction.REISSUE))
    r.callback_query.register(reissue_confirmed, AdminUserCb.filter(F.action == AdminUserAction.REISSUE_OK))
    r.callback_query.register(purchases_button, AdminUserCb.filter(F.action == AdminUserAction.PURCHASES))
    r.callback_query.register(refund_ask, AdminUserCb.filter(F.action == AdminUserAction.REFUND))
    r.callback_query.register(refund_confirmed, AdminUserCb.filter(F.action == AdminUserAction.REFUND_OK))
    return r


# --- lookup and the card ------------------------------------------------------------------------

async def lookup_prompt(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext) -> None:
    await state.set_state(Admin.lookup)
    await show(bot, query.from_user.id, query.message, t("admin.users_prompt"), kb.back_home(t))


async def user_command(message: Message, command: CommandObject, t: Translator, db: Database, settings: Settings,
                       state: FSMContext) -> None:
    if not command.args:
        await state.set_state(Admin.lookup)
        await message.answer(t("admin.users_prompt"), reply_markup=kb.back_home(t))
        return
    await _lookup(message, command.args, t, db, settings, state)


async def lookup_typed(message: Message, t: Translator, db: Database, settings: Settings,
                       state: FSMContext) -> None:
    await _lookup(message, message.text or "", t, db, settings, state)


async def _lookup(message: Message, query: str, t: Translator, db: Database, settings: Settings,
                  state: FSMContext) -> None:
    async with db.acquire() as conn:
        user_id = await admin_users.find(conn, query)
        card = await admin_users.card(conn, user_id) if user_id is not None else None
    if card is None:
        await state.set_state(Admin.lookup)
        await message.answer(t("admin.user_not_found", query=query.strip()[:64]), reply_markup=kb.back_home(t))
        return
    await state.clear()
    await message.answer(render_card(t, card, settings), reply_markup=kb.user_card(t, card, new_nonce()))


def render_card(t: Translator, c: UserCard, settings: Settings) -> str:
    name = " ".join(part for part in (f"@{c.username}" if c.username else "", c.first_name) if part) or "—"
    lines = [t("admin.card_title", id=c.id, name=name),
             t("admin.card_seen", language=c.language, joined=date(c.created_at), seen=date(c.last_seen_at))]
    if c.expires_at is None:
        lines.append(t("admin.card_sub_none"))
    elif c.sub_status == "active" and c.is_trial:
        lines.append(t("admin.card_sub_trial", date=date(c.expires_at)))
    elif c.sub_status == "active":
        lines.append(t("admin.card_sub_active", date=date(c.expires_at)))
    else:
        lines.append(t("admin.card_sub_ended", status=c.sub_status or "—", date=date(c.expires_at)))
    if c.key_status == "active":
        lines.append(t("admin.card_key_active", server=c.server or "—"))
    elif c.key_status:
        lines.append(t("admin.card_key_revoked"))
    else:
        lines.append(t("admin.card_key_none"))
    lines.append(t("admin.card_money", balance=money(c.balance, settings.cryptopay.shop_currency),
                   paid=c.paid_count, last=date(c.last_paid_at)))
    lines.append(t("admin.card_trial_used", date=date(c.trial_used_at)) if c.trial_used_at
                 else t("admin.card_trial_unused"))
    if c.is_banned:
        lines.append(t("admin.card_banned"))
    if c.blocked_bot:
        lines.append(t("admin.card_blocked"))
    return "\n".join(lines)


async def _show_card(bot: Bot, chat_id: int, origin, user_id: int, t: Translator, db: Database,
                     settings: Settings) -> bool:
    async with db.acquire() as conn:
        card = await admin_users.card(conn, user_id)
    if card is None:
        return False
    await show(bot, chat_id, origin, render_card(t, card, settings), kb.user_card(t, card, new_nonce()))
    return True


async def card_button(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator, db: Database,
                      settings: Settings, state: FSMContext, answer: Answer) -> None:
    await state.clear()
    if not await _show_card(bot, query.from_user.id, query.message, callback_data.user, t, db, settings):
        answer.set(t("admin.user_gone"))


# --- grant days ---------------------------------------------------------------------------------

async def grant_button(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator, db: Database,
                       settings: Settings, peers: Peers, answer: Answer) -> None:
    days = callback_data.arg
    if days not in kb.GRANT_DAYS:
        answer.set(t("stale"))
        return
    request_id = f"{callback_data.user}:{callback_data.nonce}:{days}"
    answer.set(await _grant(query.from_user.id, callback_data.user, days, request_id, t, db, peers))
    await _show_card(bot, query.from_user.id, query.message, callback_data.user, t, db, settings)


async def grant_other(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator,
                      state: FSMContext) -> None:
    await state.set_state(Admin.grant_days)
    await state.set_data({"grant_user": callback_data.user})
    await show(bot, query.from_user.id, query.message, t("admin.grant_prompt", max=MAX_DAYS),
               kb.back_to_user(t, callback_data.user, callback_data.nonce))


async def grant_typed(message: Message, t: Translator, db: Database, settings: Settings, peers: Peers,
                      state: FSMContext) -> None:
    target = (await state.get_data()).get("grant_user")
    text = (message.text or "").strip()
    if not isinstance(target, int):
        await state.clear()
        await message.answer(t("stale"), reply_markup=kb.back_home(t))
        return
    days = positive_id(text)
    if days is None or days > MAX_DAYS:
        await message.answer(t("admin.grant_prompt", max=MAX_DAYS))
        return
    # The admin's message is the request: a redelivered update grants nothing twice.
    request_id = f"{target}:msg{message.message_id}"
    await state.clear()
    await message.answer(await _grant(message.from_user.id, target, days, request_id, t, db, peers))
    async with db.acquire() as conn:
        card = await admin_users.card(conn, target)
    if card is not None:
        await message.answer(render_card(t, card, settings), reply_markup=kb.user_card(t, card, new_nonce()))


async def _grant(admin_id: int, user_id: int, days: int, request_id: str, t: Translator, db: Database,
                 peers: Peers) -> str:
    """Grants and returns what to tell the admin."""
    granted = await grant(db, admin_id, user_id, days, request_id)
    if granted is None:
        return t("admin.user_gone")
    if granted.repeated:
        return t("admin.already_done")
    # Committed: the activation row is the truth; the nudge only makes vpn_gateway look now.
    await peers.nudge_activations()
    return t("admin.granted", days=days, date=date(granted.expires_at))


# --- ban / unban ----------------------------------------------------------------------------------

async def ban_button(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator, db: Database,
                     settings: Settings, answer: Answer) -> None:
    banned = callback_data.action is AdminUserAction.BAN
    if banned and callback_data.user in settings.telegram.admin_ids:
        answer.set(t("admin.ban_admin"), alert=True)
        return
    async with db.transaction() as conn:
        changed = await admin_users.set_banned(conn, callback_data.user, banned)
        if changed:
            await admin_audit.record(conn, query.from_user.id, "ban" if banned else "unban",
                                     f"user:{callback_data.user}")
    if changed:
        answer.set(t("admin.banned") if banned else t("admin.unbanned"))
    else:
        answer.set(t("admin.already_done"))
    await _show_card(bot, query.from_user.id, query.message, callback_data.user, t, db, settings)


# --- reissue the key (vpn_gateway) --------------------------------------------------------------

async def reissue_ask(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator) -> None:
    await show(bot, query.from_user.id, query.message, t("admin.reissue_confirm", id=callback_data.user),
               kb.confirm_reissue(t, callback_data.user, callback_data.nonce))


async def reissue_confirmed(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator,
                            db: Database, settings: Settings, admin_peers: AdminPeers, answer: Answer) -> None:
    await answer.now()
    request_id = f"admin_reissue:{callback_data.user}:{callback_data.nonce}"
    try:
        queued = await admin_peers.reissue(UserAction(user_id=callback_data.user, request_id=request_id))
    except RpcError as exc:
        log.warning("admin reissue not accepted", extra={"code": str(exc.code), "user_id": callback_data.user})
        await show(bot, query.from_user.id, query.message, rpc_problem(t, "vpn_gateway", exc),
                   kb.confirm_reissue(t, callback_data.user, callback_data.nonce))
        return
    async with db.transaction() as conn:
        await admin_audit.record(conn, query.from_user.id, "reissue", f"user:{callback_data.user}",
                                 {"activation_id": queued.activation_id}, request_id=request_id)
    await show(bot, query.from_user.id, query.message, t("admin.reissue_queued", id=callback_data.user),
               kb.back_to_user(t, callback_data.user, new_nonce()))


# --- purchases and refunds (payments) -----------------------------------------------------------

async def purchases_button(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator,
                           db: Database) -> None:
    await _show_purchases(bot, query, callback_data.user, callback_data.nonce, t, db)


async def _show_purchases(bot: Bot, query: CallbackQuery, user_id: int, nonce: str, t: Translator, db: Database,
                          head: str | None = None) -> None:
    async with db.acquire() as conn:
        rows = await admin_users.purchases(conn, user_id)
    lines = [head, ""] if head else []
    lines.append(t("admin.purchases_title", id=user_id))
    lines += [_purchase_line(t, row) for row in rows] or [t("admin.purchases_none")]
    await show(bot, query.from_user.id, query.message, "\n".join(lines), kb.purchases(t, user_id, nonce, rows))


def _purchase_line(t: Translator, row: PurchaseRow) -> str:
    if row.kind == "gift":
        what = t("admin.purchase_gift", days=row.days or "—", state=row.gift_state or "—")
    elif row.kind == "subscription" and row.days:
        what = t("admin.purchase_plan", days=row.days)
    else:
        what = t("admin.purchase_topup")
    # A Stars subscription's charges are marked; a refund the user took (a chargeback) is told apart.
    method = f"{row.method} 🔁" if row.recurring else row.method
    status = f"{row.status} (chargeback)" if row.refund_source not in (None, "admin") else row.status
    return t("admin.purchase_line", id=row.id, date=date(row.paid_at or row.created_at), what=what,
             amount=money(row.amount, row.currency), method=method, status=status)


async def refund_ask(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator, db: Database,
                     answer: Answer) -> None:
    async with db.acquire() as conn:
        row = await admin_users.purchase_of(conn, callback_data.user, callback_data.arg)
    if row is None or not row.refundable:
        answer.set(t("admin.refund_not_possible"))
        return
    await show(bot, query.from_user.id, query.message, t("admin.refund_confirm") + "\n" + _purchase_line(t, row),
               kb.confirm_refund(t, callback_data.user, callback_data.nonce, row.id))


async def refund_confirmed(query: CallbackQuery, callback_data: AdminUserCb, bot: Bot, t: Translator,
                           db: Database, admin_peers: AdminPeers, answer: Answer) -> None:
    async with db.acquire() as conn:
        row = await admin_users.purchase_of(conn, callback_data.user, callback_data.arg)
    if row is None:
        answer.set(t("admin.refund_not_possible"))
        return
    await answer.now()  # payments may have to ask Telegram (Stars) before it answers
    try:
        # payments writes the audit row (admin_id) in the refund's own transaction.
        result = await admin_peers.refund(PurchaseRef(purchase_id=row.id, admin_id=query.from_user.id))
    except RpcError as exc:
        log.warning("refund not done", extra={"code": str(exc.code), "purchase_id": row.id})
        await show(bot, query.from_user.id, query.message, rpc_problem(t, "payments", exc),
                   kb.confirm_refund(t, callback_data.user, callback_data.nonce, row.id))
        return
    head = t("admin.refunded", id=row.id, status=result.status)
    await _show_purchases(bot, query, callback_data.user, new_nonce(), t, db, head=head)
