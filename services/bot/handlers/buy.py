"""Buying a plan: plans → payment method → invoice from payments. Each step checks the tap
against the user's own flow (FSM data), so a stale or tampered button changes nothing, and a
restart mid-flow continues from the state kept in PostgreSQL.

A promo code (typed after "I have a promo code", or from a t.me/<bot>?start=promo_<CODE> link)
rides along in the flow's data: the plans and the summary show its price, and payments invoices
at the same price (common/shop/pricing.py) after judging the code again. A plan the code makes
free is claimed instead of paid. "Buy as a gift" makes the same purchase a gift link.
"""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice, FreePlanClaim, promo_refusal
from common.db.database import Database
from common.ipc import RpcError
from common.shop import plans, promos
from common.shop.plans import Plan
from common.shop.promos import Promo
from services.bot.callbacks import BuyOptCb, BuyOption, MenuCb, PayCb, PayMethod, PlanCb, Screen, new_nonce
from services.bot.followups import Followups
from services.bot.formatting import date, traffic
from services.bot.i18n import Translator
from services.bot.invoices import InvoicePresenter, InvoiceScreen
from services.bot.keyboards import buy as kb
from services.bot.keyboards.menu import back_to_menu
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers, transient
from services.bot.promo_view import applied_text, judge_typed, plan_summary, price_of, refusal_text
from services.bot.repositories.users import UserRow
from services.bot.states import Buy
from services.bot.telegram.safe_edit import safe_edit, show

log = logging.getLogger(__name__)
GB = 1024 ** 3
MONTHLY_DAYS = 30   # Telegram's one Stars subscription period
_TYPED = F.text & ~F.text.startswith("/")   # typed input; a command still works in any state


def cryptobot_enabled(settings: Settings) -> bool:
    token = settings.cryptopay.cryptopay_token
    return bool(token and token.get_secret_value())


def router() -> Router:
    r = Router(name="buy")
    r.message.register(buy_command, Command("buy"))
    r.callback_query.register(buy_button, MenuCb.filter(F.to == Screen.BUY))
    r.callback_query.register(choose_plan, PlanCb.filter(), StateFilter(Buy.plan, Buy.method, Buy.invoice))
    r.callback_query.register(choose_method, PayCb.filter(), StateFilter(Buy.method, Buy.invoice))
    r.callback_query.register(ask_promo, BuyOptCb.filter(F.option == BuyOption.PROMO), StateFilter(Buy.plan))
    r.callback_query.register(drop_promo, BuyOptCb.filter(F.option == BuyOption.DROP_PROMO), StateFilter(Buy.plan))
    r.callback_query.register(as_gift, BuyOptCb.filter(F.option.in_({BuyOption.GIFT, BuyOption.SELF})),
                              StateFilter(Buy.method))
    r.callback_query.register(claim_free, BuyOptCb.filter(F.option == BuyOption.FREE),
                              StateFilter(Buy.method, Buy.invoice))
    r.message.register(promo_typed, StateFilter(Buy.promo), _TYPED)
    return r


async def buy_command(message: Message, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
                      state: FSMContext) -> None:
    await open_plans(bot, message.chat.id, None, user, t, db, settings, state)


async def buy_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
                     state: FSMContext) -> None:
    # "Back" from a plan keeps the code the flow carries (if it is still good for this user).
    promo = None
    async with db.acquire() as conn:
        kept = await _flow_promo(conn, await state.get_data())
        if kept is not None and await promos.judge(conn, kept, user.id, None) is None:
            promo = kept
    await open_plans(bot, query.from_user.id, query.message, user, t, db, settings, state, promo=promo)


async def open_plans(bot: Bot, chat_id: int, origin, user: UserRow, t: Translator, db: Database, settings: Settings,
                     state: FSMContext, *, promo: Promo | None = None, head: str | None = None) -> None:
    """The plans screen of a new flow, at the prices of `promo` (already judged for this user)."""
    async with db.acquire() as conn:
        items = await plans.active(conn)
    if not items:
        await show(bot, chat_id, origin, t("buy.no_plans"), back_to_menu(t))
        return
    currency = settings.cryptopay.shop_currency
    flow = new_nonce()
    await state.set_state(Buy.plan)
    await state.set_data({"flow": flow, "promo": promo.code if promo else None})
    lines = [head] if head else []
    if promo is not None:
        lines.append(applied_text(t, promo, currency))
    lines.append(t("buy.choose_plan"))
    await show(bot, chat_id, origin, "\n\n".join(lines), kb.plans(t, flow, items, currency, promo))


async def apply_code(bot: Bot, chat_id: int, text: str, user: UserRow, t: Translator, db: Database,
                     settings: Settings, state: FSMContext) -> bool:
    """A typed or linked code: the plans at its prices, or the sentence saying why not. False
    when it was refused."""
    async with db.acquire() as conn:
        judged = await judge_typed(conn, text, user.id)
    if judged.promo is None:
        await bot.send_message(chat_id, refusal_text(t, judged.refusal, judged.shown), reply_markup=kb.prompt(t))
        return False
    await open_plans(bot, chat_id, None, user, t, db, settings, state, promo=judged.promo)
    return True


async def ask_promo(query: CallbackQuery, callback_data: BuyOptCb, bot: Bot, t: Translator, state: FSMContext,
                    answer: Answer) -> None:
    if (await state.get_data()).get("flow") != callback_data.flow:
        answer.set(t("stale"))
        return
    await state.set_state(Buy.promo)
    await show(bot, query.from_user.id, query.message, t("promo.prompt"), kb.prompt(t))


async def promo_typed(message: Message, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
                      state: FSMContext) -> None:
    # Refused: the state stays, so the next message is read as another try.
    await apply_code(bot, message.chat.id, message.text or "", user, t, db, settings, state)


async def drop_promo(query: CallbackQuery, callback_data: BuyOptCb, bot: Bot, user: UserRow, t: Translator,
                     db: Database, settings: Settings, state: FSMContext, answer: Answer) -> None:
    if (await state.get_data()).get("flow") != callback_data.flow:
        answer.set(t("stale"))
        return
    await open_plans(bot, query.from_user.id, query.message, user, t, db, settings, state)


async def _flow_promo(conn, data: dict) -> Promo | None:
    code = data.get("promo")
    return await promos.find(conn, code) if isinstance(code, str) else None


async def choose_plan(query: CallbackQuery, callback_data: PlanCb, bot: Bot, t: Translator, db: Database,
                      settings: Settings, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    if data.get("flow") != callback_data.flow:
        answer.set(t("stale"))
        return
    async with db.acquire() as conn:
        plan = await plans.get_active(conn, callback_data.plan)
        promo = await _flow_promo(conn, data)
    if plan is None:
        answer.set(t("buy.plan_gone"))
        return
    await state.set_state(Buy.method)
    await state.set_data({"flow": callback_data.flow, "plan": plan.id, "promo": data.get("promo"), "gift": False})
    await _show_methods(bot, query, t, settings, callback_data.flow, plan, promo, gift=False)


async def _show_methods(bot: Bot, query: CallbackQuery, t: Translator, settings: Settings, flow: str, plan: Plan,
                        promo: Promo | None, *, gift: bool) -> None:
    currency = settings.cryptopay.shop_currency
    limit = t("traffic.unlimited") if plan.traffic_gb == 0 else traffic(plan.traffic_gb * GB)
    free = price_of(plan, promo).free
    text = plan_summary(t, plan, promo, currency, limit)
    if plan.device_limit:
        text += "\n" + t("sub.devices", limit=plan.device_limit)
    if gift:
        text += "\n\n" + t("buy.as_gift")
    if not free:
        text += "\n\n" + t("buy.choose_method")
    # Telegram renews a Stars subscription every 30 days at one price: a 30-day plan without a code.
    monthly = plan.stars_price if plan.days == MONTHLY_DAYS and promo is None and not free else None
    await show(bot, query.from_user.id, query.message, text,
               kb.methods(t, flow, cryptobot_enabled(settings), free=free, gift=gift, monthly_stars=monthly))


def _plan_tap(data: dict, flow: str, t: Translator, answer: Answer) -> bool:
    """The tap belongs to this user's flow and a plan was chosen in it; else it is stale."""
    if data.get("flow") != flow or not data.get("plan"):
        answer.set(t("stale"))
        return False
    return True


async def _chosen_plan(db: Database, data: dict, t: Translator, answer: Answer) -> tuple[Plan, Promo | None] | None:
    """The flow's plan (if still on sale; else the answer says so) and the code it carries."""
    async with db.acquire() as conn:
        plan = await plans.get_active(conn, int(data["plan"]))
        promo = await _flow_promo(conn, data)
    if plan is None:
        answer.set(t("buy.plan_gone"))
        return None
    return plan, promo


async def as_gift(query: CallbackQuery, callback_data: BuyOptCb, bot: Bot, t: Translator, db: Database,
                  settings: Settings, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    if not _plan_tap(data, callback_data.flow, t, answer):
        return
    chosen = await _chosen_plan(db, data, t, answer)
    if chosen is None:
        return
    plan, promo = chosen
    gift = callback_data.option is BuyOption.GIFT
    await state.update_data(gift=gift)
    await _show_methods(bot, query, t, settings, callback_data.flow, plan, promo, gift=gift)


async def choose_method(query: CallbackQuery, callback_data: PayCb, user: UserRow, t: Translator, db: Database,
                        settings: Settings, state: FSMContext, answer: Answer, invoices: InvoicePresenter,
                        followups: Followups) -> None:
    data = await state.get_data()
    if not _plan_tap(data, callback_data.flow, t, answer):
        return
    method = callback_data.method
    if method is PayMethod.CRYPTOBOT and not cryptobot_enabled(settings):
        answer.set(t("buy.method_unavailable"))
        return
    code = data.get("promo") if isinstance(data.get("promo"), str) else None
    gift = bool(data.get("gift"))
    # Everything that changes the purchase is in its key: another code or "as a gift" is another invoice.
    request_id = f"buy:{user.id}:{callback_data.flow}:{data['plan']}:{method.value}:{code or '-'}:{'g' if gift else 's'}"
    if data.get("stars_sent") == request_id:
        answer.set(t("invoice.already_sent"))
        return
    if followups.running(request_id):
        answer.set(t("invoice.preparing_toast"))
        return
    chosen = await _chosen_plan(db, data, t, answer)
    if chosen is None:
        return
    plan, promo = chosen
    monthly = method is PayMethod.STARS_MONTHLY
    if monthly and (plan.days != MONTHLY_DAYS or promo is not None or gift):
        answer.set(t("buy.method_unavailable"))
        return
    await state.set_state(Buy.invoice)
    await answer.now()  # the tap is acknowledged before payments is asked
    days = price_of(plan, promo).days
    screen = InvoiceScreen(
        chat_id=query.from_user.id,
        message_id=query.message.message_id if query.message else None,
        again=callback_data,
        title=t("invoice.stars_title", days=days),
        description=t("invoice.stars_description", days=days),
        promo_code=code,
    )
    applies = promo is not None and promo.applies_to(plan.id)
    request = CreateInvoice(user_id=user.id, method="stars" if monthly else method.value, plan_id=plan.id,
                            request_id=request_id, promo_code=code if applies and not monthly else None, gift=gift,
                            recurring=monthly)
    await invoices.present(request, screen, t, state)


async def claim_free(query: CallbackQuery, callback_data: BuyOptCb, bot: Bot, user: UserRow, t: Translator,
                     peers: Peers, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    code = data.get("promo")
    if data.get("flow") != callback_data.flow or not data.get("plan") or not isinstance(code, str):
        answer.set(t("stale"))
        return
    await state.set_state(Buy.invoice)
    await answer.now()
    chat_id = query.from_user.id
    message_id = query.message.message_id if query.message else None
    request = FreePlanClaim(user_id=user.id, plan_id=int(data["plan"]), promo_code=code,
                            request_id=f"free:{user.id}:{callback_data.flow}:{data['plan']}:{code}")
    try:
        given = await peers.claim_free_plan(request)
    except RpcError as exc:
        refusal = promo_refusal(exc.message) if exc.code == RpcErrorCode.CONFLICT else None
        if refusal is not None:
            await safe_edit(bot, chat_id, message_id, refusal_text(t, refusal, code), back_to_menu(t))
        elif transient(exc):
            await safe_edit(bot, chat_id, message_id, t("invoice.try_again"), kb.retry(t, callback_data))
        else:
            log.warning("free plan refused", extra={"code": str(exc.code), "user_id": user.id})
            await safe_edit(bot, chat_id, message_id, t("invoice.failed"), kb.retry(t, callback_data))
        return
    await state.clear()
    await safe_edit(bot, chat_id, message_id,
                    t("promo.free_given", code=code, days=given.days, date=date(given.expires_at)), back_to_menu(t))

