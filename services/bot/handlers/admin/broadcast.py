"""Broadcast: compose → preview → confirm → the scheduler sends it (START_BROADCAST).

The preview offers a paid broadcast (Telegram's allow_paid_broadcast: up to 1000 messages/s, Stars
from the bot's balance): choosing it asks the scheduler for the cost and the balance
(broadcast_cost.py) and shows them before Send appears.

The draft lives in the admin's FSM data under its nonce, which is also the request_id, so a
double tap on "Send" (or a retry after a timeout) starts one broadcast. The confirmation
message becomes the progress message: the scheduler edits it with counts, ETA and the
pause / resume / cancel buttons of the contract (`broadcast_callback`), which come back here
through `parse_broadcast_callback` and go to the scheduler as PAUSE/RESUME/CANCEL_BROADCAST.
"""
from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from common.contract.scheduler import (
    BroadcastControl, BroadcastState, MessageRef, StartBroadcast, parse_broadcast_callback,
)
from common.ipc import RpcError
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminBroadcastAction, AdminBroadcastCb, AdminBroadcastModeCb, AdminCb, AdminScreen
from services.bot.formatting import date
from services.bot.callbacks import new_nonce
from services.bot.handlers.admin.broadcast_cost import paid_quote
from services.bot.handlers.admin.shared import rpc_problem, scheduler_locale
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import transient
from services.bot.states import Admin
from services.bot.telegram.safe_edit import safe_edit, safe_markup, show

log = logging.getLogger(__name__)
MAX_TEXT = 16384   # StartBroadcast.text; Telegram itself allows 4096 characters once HTML is parsed


class BroadcastButton(Filter):
    """A button of the scheduler's progress message: hands `control` = (action, broadcast_id)."""

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        parsed = parse_broadcast_callback(query.data or "")
        return {"control": parsed} if parsed else False


def router() -> Router:
    r = Router(name="admin.broadcast")
    r.callback_query.register(compose_prompt, AdminCb.filter(F.to == AdminScreen.BROADCAST))
    r.message.register(draft_text, StateFilter(Admin.broadcast_text), F.text & ~F.text.startswith("/"))
    r.message.register(draft_not_text, StateFilter(Admin.broadcast_text), ~F.text)
    r.callback_query.register(choose_audience, AdminBroadcastCb.filter(F.action == AdminBroadcastAction.AUDIENCE),
                              StateFilter(Admin.broadcast_confirm))
    r.callback_query.register(choose_mode, AdminBroadcastModeCb.filter(), StateFilter(Admin.broadcast_confirm))
    r.callback_query.register(edit_draft, AdminBroadcastCb.filter(F.action == AdminBroadcastAction.EDIT))
    r.callback_query.register(drop_draft, AdminBroadcastCb.filter(F.action == AdminBroadcastAction.DROP))
    r.callback_query.register(send, AdminBroadcastCb.filter(F.action == AdminBroadcastAction.SEND),
                              StateFilter(Admin.broadcast_confirm))
    r.callback_query.register(steer, BroadcastButton())
    return r


def _state_label(t: Translator, state: str) -> str:
    labels = {"queued": t("admin.bstate_queued"), "running": t("admin.bstate_running"),
              "paused": t("admin.bstate_paused"), "cancelled": t("admin.bstate_cancelled"),
              "done": t("admin.bstate_done"), "failed": t("admin.bstate_failed")}
    return labels.get(state, state)


async def compose_prompt(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext,
                         admin_peers: AdminPeers, answer: Answer) -> None:
    await answer.now()  # the recent broadcasts come from the scheduler
    await state.set_state(Admin.broadcast_text)
    await state.set_data({"bc": {"nonce": new_nonce()}})
    lines = [t("admin.broadcast_prompt")]
    try:
        recent = (await admin_peers.recent_broadcasts()).broadcasts
    except RpcError as exc:
        lines += ["", rpc_problem(t, "scheduler", exc)]
    else:
        if recent:
            lines += ["", t("admin.broadcast_recent")]
            lines += [_recent_line(t, b) for b in recent]
    await show(bot, query.from_user.id, query.message, "\n".join(lines), kb.back_home(t))


def _recent_line(t: Translator, b: BroadcastState) -> str:
    return t("admin.broadcast_recent_line", id=b.broadcast_id, date=date(b.created_at),
             state=_state_label(t, b.state), sent=b.sent, total=b.total)


async def draft_not_text(message: Message, t: Translator) -> None:
    await message.answer(t("admin.broadcast_text_only"))


async def draft_text(message: Message, bot: Bot, t: Translator, state: FSMContext, admin_peers: AdminPeers) -> None:
    text = message.html_text
    if len(text) > MAX_TEXT:
        await message.answer(t("admin.broadcast_too_long", max=MAX_TEXT))
        return
    draft = (await state.get_data()).get("bc") or {}
    nonce = draft.get("nonce") or new_nonce()
    try:
        # The preview is the message exactly as recipients get it; Telegram's refusal shows here, not later.
        await bot.send_message(message.chat.id, text)
    except TelegramBadRequest as exc:
        await message.answer(t("admin.broadcast_refused", error=exc.message[:300]))
        return
    audience = draft.get("audience") or "all"
    await state.set_state(Admin.broadcast_confirm)
    draft = {"nonce": nonce, "text": text, "audience": audience, "paid": bool(draft.get("paid"))}
    await _show_draft(bot, message.chat.id, None, t, state, draft, admin_peers)


def _confirm_text(t: Translator, audience: str, note: str | None = None) -> str:
    text = t("admin.broadcast_confirm", audience=kb.audience_label(t, audience))
    return text + "\n\n" + note if note else text


async def _show_draft(bot: Bot, chat_id: int, origin: Message | None, t: Translator, state: FSMContext,
                      draft: dict[str, Any], admin_peers: AdminPeers) -> None:
    """The confirmation screen. A paid draft first shows "working on it" while the scheduler counts
    the recipients and asks Telegram for the balance, then its cost; Send only if it may go."""
    nonce, audience, paid = draft["nonce"], draft["audience"], bool(draft.get("paid"))
    draft["quoted"] = False
    await state.set_data({"bc": draft})
    if not paid:
        await show(bot, chat_id, origin, _confirm_text(t, audience), kb.broadcast_draft(t, nonce, audience))
        return
    shown = await show(bot, chat_id, origin, _confirm_text(t, audience, t("admin.broadcast_quoting")), None)
    note, can_send = await paid_quote(t, chat_id, audience, admin_peers)
    if can_send:
        draft["quoted"] = True
        await state.set_data({"bc": draft})
    await safe_edit(bot, chat_id, shown, _confirm_text(t, audience, note),
                    kb.broadcast_draft(t, nonce, audience, paid=True, can_send=can_send))


async def _draft(state: FSMContext, nonce: str) -> dict[str, Any] | None:
    draft = (await state.get_data()).get("bc")
    if not isinstance(draft, dict) or draft.get("nonce") != nonce or not draft.get("text"):
        return None
    return draft


async def choose_audience(query: CallbackQuery, callback_data: AdminBroadcastCb, bot: Bot, t: Translator,
                          state: FSMContext, admin_peers: AdminPeers, answer: Answer) -> None:
    draft = await _draft(state, callback_data.nonce)
    if draft is None or callback_data.audience not in kb.AUDIENCES:
        answer.set(t("stale"))
        return
    await answer.now()   # a paid draft is quoted again for the new audience
    draft["audience"] = callback_data.audience
    await _show_draft(bot, query.from_user.id, query.message, t, state, draft, admin_peers)


async def choose_mode(query: CallbackQuery, callback_data: AdminBroadcastModeCb, bot: Bot, t: Translator,
                      state: FSMContext, admin_peers: AdminPeers, answer: Answer) -> None:
    draft = await _draft(state, callback_data.nonce)
    if draft is None:
        answer.set(t("stale"))
        return
    await answer.now()   # the paid pace's cost comes from the scheduler and Telegram
    draft["paid"] = callback_data.paid
    await _show_draft(bot, query.from_user.id, query.message, t, state, draft, admin_peers)


async def edit_draft(query: CallbackQuery, callback_data: AdminBroadcastCb, bot: Bot, t: Translator,
                     state: FSMContext, answer: Answer) -> None:
    draft = await _draft(state, callback_data.nonce)
    if draft is None:
        answer.set(t("stale"))
        return
    await state.set_state(Admin.broadcast_text)
    await state.set_data({"bc": {"nonce": new_nonce(), "audience": draft["audience"], "paid": draft.get("paid")}})
    await show(bot, query.from_user.id, query.message, t("admin.broadcast_prompt"), kb.back_home(t))


async def drop_draft(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await show(bot, query.from_user.id, query.message, t("admin.broadcast_dropped"), kb.home(t))


async def send(query: CallbackQuery, callback_data: AdminBroadcastCb, bot: Bot, t: Translator, state: FSMContext,
               admin_peers: AdminPeers, answer: Answer) -> None:
    draft = await _draft(state, callback_data.nonce)
    if draft is None:
        answer.set(t("stale"))
        return
    paid = bool(draft.get("paid"))
    if paid and not draft.get("quoted"):
        # Its cost was not shown (or the Stars do not cover it): no paid broadcast starts unseen.
        answer.set(t("admin.broadcast_stars_short"), alert=True)
        return
    await answer.now()
    chat_id = query.from_user.id
    audience = draft["audience"]
    shown = await show(bot, chat_id, query.message,
                       t("admin.broadcast_starting", audience=kb.audience_label(t, audience)), None)
    request = StartBroadcast(admin_id=query.from_user.id, request_id=f"bc:{callback_data.nonce}", text=draft["text"],
                             audience=audience, progress=MessageRef(chat_id=chat_id, message_id=shown),
                             locale=scheduler_locale(t), paid=paid)
    try:
        started = await admin_peers.start_broadcast(request)
    except RpcError as exc:
        log.warning("broadcast not started", extra={"code": str(exc.code)})
        note = t("admin.broadcast_retry") if transient(exc) else rpc_problem(t, "scheduler", exc)
        await safe_edit(bot, chat_id, shown, _confirm_text(t, audience, note),
                        kb.broadcast_draft(t, callback_data.nonce, audience, paid=paid))
        return
    await state.clear()
    # The scheduler owns this message's text from now on; the buttons are shown at once.
    await safe_markup(bot, chat_id, shown, kb.broadcast_controls(t, started.broadcast_id, started.state))


async def steer(query: CallbackQuery, control: tuple[str, int], bot: Bot, t: Translator, admin_peers: AdminPeers,
                  answer: Answer) -> None:
    action, broadcast_id = control
    try:
        result = await admin_peers.control_broadcast(
            action, BroadcastControl(admin_id=query.from_user.id, broadcast_id=broadcast_id))  # type: ignore[arg-type]
    except RpcError as exc:
        if exc.code == "conflict":
            answer.set(t("admin.broadcast_finished", id=broadcast_id))
        elif exc.code == "not_found":
            answer.set(t("stale"))
        else:
            answer.set(rpc_problem(t, "scheduler", exc), alert=True)
        return
    answer.set(t("admin.broadcast_now", id=broadcast_id, state=_state_label(t, result.state)))
    if query.message is not None:
        await safe_markup(bot, query.from_user.id, query.message.message_id,
                          kb.broadcast_controls(t, broadcast_id, result.state))
