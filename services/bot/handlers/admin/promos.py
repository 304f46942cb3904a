"""Promo codes (issue 12.1): the list with each code's uses and revenue, one code's card, disable,
and a new code built one screen at a time — its text, its kind, its value, then a draft with the
plans, total uses, once per user, first purchase only and the period, and "Create".

The draft lives in the FSM (PostgreSQL) under a nonce its buttons carry: a button of another draft,
or one replayed after "Create", names nothing and changes nothing. Every query here is one short
statement; nothing waits on another service.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.db.database import Database
from common.shop import plans as shop_plans
from common.shop import promos
from common.texts import money
from services.bot.callbacks import AdminCb, AdminPromoAction, AdminPromoCb, AdminScreen, new_nonce
from services.bot.formatting import date
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories import admin_audit, admin_promos
from services.bot.repositories.admin_promos import CodeStats, NewCode
from services.bot.states import Admin
from services.bot.telegram.safe_edit import show
from services.bot.typed import positive_id

SHOWN = 15
MAX_USES = 1_000_000
MAX_DAYS = 3650
MAX_AMOUNT = Decimal("1000000")
_AMOUNT = re.compile(r"[0-9]{1,7}(?:[.,][0-9]{1,2})?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TYPED = F.text & ~F.text.startswith("/")
_DRAFT_ACTIONS = {AdminPromoAction.KIND, AdminPromoAction.PLAN, AdminPromoAction.USES, AdminPromoAction.ONCE,
                  AdminPromoAction.FIRST, AdminPromoAction.DATES, AdminPromoAction.CREATE}


def router() -> Router:
    r = Router(name="admin.promos")
    r.callback_query.register(list_screen, AdminCb.filter(F.to == AdminScreen.PROMOS))
    r.callback_query.register(card_button, AdminPromoCb.filter(F.action == AdminPromoAction.SHOW))
    r.callback_query.register(disable_button, AdminPromoCb.filter(F.action == AdminPromoAction.DISABLE))
    r.callback_query.register(new_button, AdminPromoCb.filter(F.action == AdminPromoAction.NEW))
    r.callback_query.register(draft_button, AdminPromoCb.filter(F.action.in_(_DRAFT_ACTIONS)))
    r.message.register(code_typed, StateFilter(Admin.promo_code), _TYPED)
    r.message.register(value_typed, StateFilter(Admin.promo_value), _TYPED)
    r.message.register(uses_typed, StateFilter(Admin.promo_uses), _TYPED)
    r.message.register(dates_typed, StateFilter(Admin.promo_dates), _TYPED)
    return r


# --- the list and one code ------------------------------------------------------------------------

def what(t: Translator, kind: str, value: Decimal, currency: str) -> str:
    if kind == "percent":
        return t("admin.promo_kind_percent", value=int(value))
    if kind == "amount":
        return t("admin.promo_kind_amount", value=money(value, currency))
    if kind == "days":
        return t("admin.promo_kind_days", value=int(value))
    return t("admin.promo_kind_free")


def state_label(t: Translator, state: str) -> str:
    return {"active": t("admin.promo_state_active"), "disabled": t("admin.promo_state_disabled"),
            "expired": t("admin.promo_state_expired"), "scheduled": t("admin.promo_state_scheduled")}[state]


def _sums(t: Translator, sums: dict[str, Decimal]) -> str:
    return ", ".join(money(amount, currency) for currency, amount in sums.items()) or t("admin.promo_no_revenue")


def _uses(t: Translator, c: CodeStats) -> str:
    return f"{c.uses}/{c.max_uses}" if c.max_uses is not None else str(c.uses)


async def list_screen(query: CallbackQuery, bot: Bot, t: Translator, db: Database, settings: Settings,
                      state: FSMContext) -> None:
    await state.clear()
    await _show_list(bot, query.from_user.id, query.message, t, db, settings)


async def _show_list(bot: Bot, chat_id: int, origin, t: Translator, db: Database, settings: Settings) -> None:
    async with db.acquire() as conn:
        codes = await admin_promos.recent(conn, SHOWN)
    currency = settings.cryptopay.shop_currency
    lines = [t("admin.promos_title")]
    lines += [t("admin.promo_line", code=c.code, what=what(t, c.kind, c.value, currency), uses=_uses(t, c),
                state=state_label(t, c.state), revenue=_sums(t, c.revenue)) for c in codes] or [t("admin.promos_none")]
    await show(bot, chat_id, origin, "\n".join(lines), kb.promos(t, [(c.id, c.code) for c in codes]))


def render_card(t: Translator, c: CodeStats, plan_codes: dict[int, str], currency: str) -> str:
    names = ", ".join(plan_codes.get(i, f"#{i}") for i in c.plan_ids) or t("admin.promo_all_plans")
    yes, no = t("admin.yes"), t("admin.no")
    return t("admin.promo_card", code=c.code, what=what(t, c.kind, c.value, currency), state=state_label(t, c.state),
             plans=names, valid_from=date(c.valid_from),
             valid_until=date(c.valid_until) if c.valid_until else t("admin.promo_no_end"),
             uses=c.uses, max_uses=c.max_uses if c.max_uses is not None else t("admin.promo_no_limit"), held=c.held,
             once=yes if c.once_per_user else no, first=yes if c.first_purchase_only else no,
             revenue=_sums(t, c.revenue), discount=_sums(t, c.discount_given), created=date(c.created_at), admin=c.created_by)


async def _show_card(bot: Bot, chat_id: int, origin, code_id: int, t: Translator, db: Database, settings: Settings,
                     head: str | None = None) -> bool:
    async with db.acquire() as conn:
        stats = await admin_promos.one(conn, code_id)
        plan_codes = await admin_promos.plan_codes(conn)
    if stats is None:
        return False
    text = render_card(t, stats, plan_codes, settings.cryptopay.shop_currency)
    await show(bot, chat_id, origin, f"{head}\n\n{text}" if head else text,
               kb.promo_card(t, stats.id, stats.disabled_at is not None))
    return True


async def card_button(query: CallbackQuery, callback_data: AdminPromoCb, bot: Bot, t: Translator, db: Database,
                      settings: Settings, answer: Answer) -> None:
    if not await _show_card(bot, query.from_user.id, query.message, callback_data.code, t, db, settings):
        answer.set(t("admin.promo_gone"))


async def disable_button(query: CallbackQuery, callback_data: AdminPromoCb, bot: Bot, t: Translator, db: Database,
                         settings: Settings, answer: Answer) -> None:
    async with db.transaction() as conn:
        changed = await admin_promos.disable(conn, callback_data.code)
        if changed:
            await admin_audit.record(conn, query.from_user.id, "promo_disable", f"promo:{callback_data.code}")
    if not await _show_card(bot, query.from_user.id, query.message, callback_data.code, t, db, settings):
        answer.set(t("admin.promo_gone"))
        return
    answer.set(t("admin.promo_disabled") if changed else t("admin.already_done"), alert=changed)


# --- a new code -----------------------------------------------------------------------------------

async def new_button(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext) -> None:
    await state.set_state(Admin.promo_code)
    await state.set_data({})
    await show(bot, query.from_user.id, query.message, t("admin.promo_code_prompt"), kb.back_to_promos(t))


async def code_typed(message: Message, t: Translator, db: Database, state: FSMContext) -> None:
    code = promos.normalize(message.text)
    if code is None:
        await message.answer(t("admin.promo_code_bad"), reply_markup=kb.back_to_promos(t))
        return
    async with db.acquire() as conn:
        taken = await admin_promos.exists(conn, code)
    if taken:
        await message.answer(t("admin.promo_code_taken", code=code), reply_markup=kb.back_to_promos(t))
        return
    draft = {"nonce": new_nonce(), "code": code, "kind": None, "value": "0", "plans": [], "max_uses": None,
             "once": True, "first": False, "from": None, "until": None}
    await state.set_state(Admin.promo_draft)
    await state.set_data({"draft": draft})
    await message.answer(t("admin.promo_kind_prompt", code=code), reply_markup=kb.promo_kinds(t, draft["nonce"]))


async def _draft(state: FSMContext, nonce: str) -> dict[str, Any] | None:
    draft = (await state.get_data()).get("draft")
    return draft if isinstance(draft, dict) and draft.get("nonce") == nonce else None


def _value_prompt(t: Translator, kind: str, settings: Settings) -> str:
    if kind == "percent":
        return t("admin.promo_value_percent")
    if kind == "amount":
        return t("admin.promo_value_amount", currency=settings.cryptopay.shop_currency, max=MAX_AMOUNT)
    return t("admin.promo_value_days")


async def draft_button(query: CallbackQuery, callback_data: AdminPromoCb, bot: Bot, t: Translator, db: Database,
                       settings: Settings, state: FSMContext, answer: Answer) -> None:
    draft = await _draft(state, callback_data.nonce)
    if draft is None:
        answer.set(t("stale"))
        return
    action, chat_id = callback_data.action, query.from_user.id
    if action is AdminPromoAction.KIND:
        if not 1 <= callback_data.arg <= len(kb.PROMO_KINDS):
            answer.set(t("stale"))
            return
        draft["kind"] = kb.PROMO_KINDS[callback_data.arg - 1]
        if draft["kind"] != "free_plan":
            await state.update_data(draft=draft)
            await state.set_state(Admin.promo_value)
            await show(bot, chat_id, query.message, _value_prompt(t, draft["kind"], settings), kb.back_to_promos(t))
            return
        draft["value"] = "0"
    elif draft.get("kind") is None:
        answer.set(t("stale"))     # a limit's button before the kind was chosen: not from this draft's screens
        return
    elif action is AdminPromoAction.PLAN:
        async with db.acquire() as conn:
            plan = await shop_plans.get_active(conn, callback_data.arg)
        if plan is None:
            answer.set(t("buy.plan_gone"))
            return
        chosen = set(draft["plans"]) ^ {plan.id}
        draft["plans"] = sorted(chosen)
    elif action is AdminPromoAction.ONCE:
        draft["once"] = not draft["once"]
    elif action is AdminPromoAction.FIRST:
        draft["first"] = not draft["first"]
    elif action is AdminPromoAction.USES:
        await state.set_state(Admin.promo_uses)
        await show(bot, chat_id, query.message, t("admin.promo_uses_prompt"), kb.back_to_promos(t))
        return
    elif action is AdminPromoAction.DATES:
        await state.set_state(Admin.promo_dates)
        await show(bot, chat_id, query.message, t("admin.promo_dates_prompt"), kb.back_to_promos(t))
        return
    elif action is AdminPromoAction.CREATE:
        await _create(query, bot, draft, t, db, settings, state, answer)
        return
    await state.update_data(draft=draft)
    await state.set_state(Admin.promo_draft)
    await _show_draft(bot, chat_id, query.message, draft, t, db, settings)


async def _show_draft(bot: Bot, chat_id: int, origin, draft: dict[str, Any], t: Translator, db: Database,
                      settings: Settings) -> None:
    async with db.acquire() as conn:
        items = await shop_plans.active(conn)
    currency = settings.cryptopay.shop_currency
    names = ", ".join(p.code for p in items if p.id in draft["plans"]) or t("admin.promo_all_plans")
    valid_from = date(draft["from"]) if draft["from"] else date(datetime.now(timezone.utc))
    valid_until = date(draft["until"]) if draft["until"] else t("admin.promo_no_end")
    uses = str(draft["max_uses"]) if draft["max_uses"] else t("admin.promo_no_limit")
    yes, no = t("admin.yes"), t("admin.no")
    text = t("admin.promo_draft", code=draft["code"], what=what(t, draft["kind"], Decimal(draft["value"]), currency),
             plans=names, valid_from=valid_from, valid_until=valid_until, max_uses=uses,
             once=yes if draft["once"] else no, first=yes if draft["first"] else no)
    if draft["kind"] == "free_plan" and not draft["plans"]:
        text += "\n\n" + t("admin.promo_draft_free")
    await show(bot, chat_id, origin, text, kb.promo_draft(
        t, draft["nonce"], items, draft["plans"], uses=uses, once=draft["once"], first=draft["first"],
        valid_from=valid_from, valid_until=valid_until))


async def _typed_into_draft(bot: Bot, message: Message, state: FSMContext, changes: dict[str, Any], t: Translator,
                            db: Database, settings: Settings) -> None:
    draft = (await state.get_data()).get("draft")
    if not isinstance(draft, dict) or not draft.get("kind"):
        await state.clear()
        await message.answer(t("stale"), reply_markup=kb.back_to_promos(t))
        return
    draft.update(changes)
    await state.update_data(draft=draft)
    await state.set_state(Admin.promo_draft)
    await _show_draft(bot, message.chat.id, None, draft, t, db, settings)


async def value_typed(message: Message, bot: Bot, t: Translator, db: Database, settings: Settings,
                      state: FSMContext) -> None:
    draft = (await state.get_data()).get("draft")
    kind = draft.get("kind") if isinstance(draft, dict) else None
    if kind is None:
        await state.clear()
        await message.answer(t("stale"), reply_markup=kb.back_to_promos(t))
        return
    text = (message.text or "").strip()
    value: Decimal | None = None
    if kind in ("percent", "days"):
        number = positive_id(text)
        top = 100 if kind == "percent" else MAX_DAYS
        value = Decimal(number) if number is not None and number <= top else None
    elif kind == "amount" and _AMOUNT.fullmatch(text):
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:
            value = None
        if value is not None and not Decimal(0) < value <= MAX_AMOUNT:
            value = None
    if value is None:
        await message.answer(_value_prompt(t, kind, settings), reply_markup=kb.back_to_promos(t))
        return
    await _typed_into_draft(bot, message, state, {"value": str(value)}, t, db, settings)


async def uses_typed(message: Message, bot: Bot, t: Translator, db: Database, settings: Settings, state: FSMContext) -> None:
    text = (message.text or "").strip()
    number = 0 if text == "0" else positive_id(text)
    if number is None or number > MAX_USES:
        await message.answer(t("admin.promo_uses_prompt"), reply_markup=kb.back_to_promos(t))
        return
    await _typed_into_draft(bot, message, state, {"max_uses": number or None}, t, db, settings)


def parse_period(text: str, now: datetime) -> tuple[datetime | None, datetime | None] | None:
    """(from, until) in UTC from "0", "YYYY-MM-DD" (the last day) or "YYYY-MM-DD YYYY-MM-DD";
    None when it is not a period that can still be used. Days are whole UTC days."""
    parts = text.split()
    if parts == ["0"]:
        return None, None
    if not 1 <= len(parts) <= 2 or not all(_DAY.fullmatch(p) for p in parts):
        return None
    try:
        days = [datetime.combine(datetime.strptime(p, "%Y-%m-%d").date(), time(), timezone.utc) for p in parts]
    except ValueError:
        return None
    start = days[0] if len(days) == 2 else None
    end = days[-1] + timedelta(days=1)
    if end <= now or (start is not None and start >= end):
        return None
    return start, end


async def dates_typed(message: Message, bot: Bot, t: Translator, db: Database, settings: Settings, state: FSMContext) -> None:
    period = parse_period((message.text or "").strip(), datetime.now(timezone.utc))
    if period is None:
        await message.answer(t("admin.promo_dates_bad"), reply_markup=kb.back_to_promos(t))
        return
    start, end = period
    await _typed_into_draft(bot, message, state, {"from": start.isoformat() if start else None,
                                                  "until": end.isoformat() if end else None}, t, db, settings)


async def _create(query: CallbackQuery, bot: Bot, draft: dict[str, Any], t: Translator, db: Database,
                  settings: Settings, state: FSMContext, answer: Answer) -> None:
    if draft["kind"] == "free_plan" and not draft["plans"]:
        answer.set(t("admin.promo_draft_free"), alert=True)
        return
    new = NewCode(code=draft["code"], kind=draft["kind"], value=Decimal(draft["value"]), plan_ids=draft["plans"],
                  valid_from=datetime.fromisoformat(draft["from"]) if draft["from"] else None,
                  valid_until=datetime.fromisoformat(draft["until"]) if draft["until"] else None,
                  max_uses=draft["max_uses"], once_per_user=draft["once"], first_purchase_only=draft["first"])
    async with db.transaction() as conn:
        code_id = await admin_promos.create(conn, new, query.from_user.id)
        if code_id is not None:
            await admin_audit.record(conn, query.from_user.id, "promo_create", f"promo:{code_id}",
                                     {"code": new.code, "kind": new.kind, "value": new.value})
    if code_id is None:
        answer.set(t("admin.promo_code_taken", code=new.code), alert=True)
        return
    await state.clear()
    await _show_card(bot, query.from_user.id, query.message, code_id, t, db, settings,
                     head=t("admin.promo_created", code=new.code))
