"""Changing plans (issue 12.4): "My subscription" → another plan → the arithmetic, shown before
anything is charged (common/shop/proration.py, the same function payments applies) → confirm.

payments does the change (CHANGE_PLAN): at once when the balance covers it, else an invoice for
what the balance lacks, whose payment completes it. The confirmation's request_id comes from the
screen's nonce and the plan, so a double tap is one change.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from services.bot.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.payments import PlanChange, change_refusal
from common.db.database import Database
from common.ipc import RpcError
from common.shop import plans as shop_plans
from common.shop import proration
from common.shop.proration import Quote, Refusal
from common.texts import money
from services.bot.callbacks import ChangeCb, SubAction, SubCb, new_nonce
from services.bot.formatting import date
from services.bot.handlers.buy import cryptobot_enabled
from services.bot.i18n import Translator
from services.bot.keyboards import buy as buy_kb
from services.bot.keyboards import subscription as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers, transient
from services.bot.repositories.users import UserRow
from services.bot.states import PlanSwitch
from services.bot.telegram.safe_edit import safe_edit, show

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="plan_change")
    r.callback_query.register(choose, SubCb.filter(F.action == SubAction.CHANGE))
    r.callback_query.register(quoted, ChangeCb.filter(~F.confirm), StateFilter(PlanSwitch.choose))
    r.callback_query.register(confirmed, ChangeCb.filter(F.confirm), StateFilter(PlanSwitch.choose))
    return r


def refusal_text(t: Translator, refusal: Refusal | str) -> str:
    return {
        Refusal.NO_PAID_PLAN: t("change.refused_no_paid_plan"),
        Refusal.SAME_PLAN: t("change.refused_same_plan"),
        Refusal.PLAN_GONE: t("buy.plan_gone"),
        Refusal.FROZEN: t("change.refused_frozen"),
    }.get(refusal, t("change.refused_no_paid_plan"))


async def choose(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
                 state: FSMContext, answer: Answer) -> None:
    async with db.acquire() as conn:
        current = await conn.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", user.id)
        items = [p for p in await shop_plans.active(conn) if p.id != current]
    if current is None or not items:
        answer.set(t("change.refused_no_paid_plan"))
        return
    nonce = new_nonce()
    await state.set_state(PlanSwitch.choose)
    await state.set_data({"nonce": nonce})
    currency = settings.cryptopay.shop_currency
    labels = [(p.id, t("change.plan_button", code=p.code, days=p.days, price=money(p.price, currency))) for p in items]
    await show(bot, query.from_user.id, query.message, t("change.choose"), kb.change_plans(t, nonce, labels))


def _days(value: Decimal) -> str:
    return f"{value:.1f}"


def render(t: Translator, q: Quote, currency: str, cryptobot: bool) -> tuple[str, str | None]:
    """The arithmetic, and the confirm button's label (None: it cannot be confirmed from here)."""
    price = money(q.plan.price, currency)
    value = money(q.left.value, currency)
    lines = [t("change.title", old=q.from_plan_code, new=q.plan.code),
             t("change.left", days=_days(q.left.paid_days + q.left.free_days), paid=_days(q.left.paid_days),
               value=value, free=_days(q.left.free_days)),
             t("change.price", new=q.plan.code, price=price, days=q.plan.days)]
    charge = q.conversion.charge
    label: str | None
    if charge == 0:
        lines.append(t("change.no_charge", value=value, days=q.conversion.days, new=q.plan.code, price=price,
                       plan_days=q.plan.days))
        label = t("change.confirm_free")
    elif q.invoice == 0:
        lines.append(t("change.pay_balance", price=price, value=value, charge=money(charge, currency),
                       balance=money(q.balance, currency)))
        label = t("change.confirm_pay", amount=money(charge, currency))
    elif cryptobot:
        lines.append(t("change.pay_invoice", price=price, value=value, charge=money(charge, currency),
                       from_balance=money(q.from_balance, currency), invoice=money(q.invoice, currency)))
        label = t("change.confirm_pay", amount=money(charge, currency))
    else:
        lines.append(t("change.needs_balance", charge=money(charge, currency), balance=money(q.balance, currency)))
        label = None
    lines.append(t("change.after", new=q.plan.code, date=date(q.expires_at)))
    return "\n".join(lines), label


async def quoted(query: CallbackQuery, callback_data: ChangeCb, bot: Bot, user: UserRow, t: Translator,
                 db: Database, settings: Settings, state: FSMContext, answer: Answer) -> None:
    if (await state.get_data()).get("nonce") != callback_data.nonce:
        answer.set(t("stale"))
        return
    async with db.acquire() as conn:
        quote = await proration.quote_for(conn, user.id, callback_data.plan)
    if isinstance(quote, Refusal):
        answer.set(refusal_text(t, quote), alert=True)
        return
    text, label = render(t, quote, settings.cryptopay.shop_currency, cryptobot_enabled(settings))
    await show(bot, query.from_user.id, query.message, text,
               kb.change_confirm(t, callback_data.nonce, callback_data.plan, label))


async def confirmed(query: CallbackQuery, callback_data: ChangeCb, bot: Bot, user: UserRow, t: Translator,
                    peers: Peers, state: FSMContext, answer: Answer) -> None:
    if (await state.get_data()).get("nonce") != callback_data.nonce:
        answer.set(t("stale"))
        return
    await answer.now()
    chat_id = query.from_user.id
    message_id = query.message.message_id if query.message else None
    request = PlanChange(user_id=user.id, plan_id=callback_data.plan,
                         request_id=f"change:{user.id}:{callback_data.nonce}:{callback_data.plan}")
    try:
        result = await peers.change_plan(request)
    except RpcError as exc:
        refusal = change_refusal(exc.message) if exc.code == RpcErrorCode.CONFLICT else None
        if refusal is not None:
            await safe_edit(bot, chat_id, message_id, refusal_text(t, refusal), kb.to_subscription(t))
        elif transient(exc):
            await safe_edit(bot, chat_id, message_id, t("invoice.try_again"), buy_kb.retry(t, callback_data))
        else:
            log.warning("plan change refused", extra={"code": str(exc.code), "user_id": user.id})
            await safe_edit(bot, chat_id, message_id, t("change.failed"), buy_kb.retry(t, callback_data))
        return
    if result.state == "done":
        await state.clear()
        await safe_edit(bot, chat_id, message_id, t("change.done", new=result.plan_code, date=date(result.expires_at)),
                        kb.to_subscription(t))
        return
    # The invoice for what the balance lacks; its payment completes the change (a notice says so).
    await safe_edit(bot, chat_id, message_id,
                    t("change.invoice", amount=money(result.invoice_amount, result.currency),
                      from_balance=money(result.from_balance, result.currency), new=result.plan_code),
                    buy_kb.pay_url(t, result.invoice_url or ""))
