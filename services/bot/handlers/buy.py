"""Buying a plan: plans → payment method → invoice from payments. Each step checks the tap
against the user's own flow (FSM data), so a stale or tampered button changes nothing, and a
restart mid-flow continues from the state kept in PostgreSQL."""
from __future__ import annotations


from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.contract.payments import CreateInvoice
from common.db.database import Database
from common.shop import plans
from common.shop.plans import Plan
from common.texts import money
from services.bot.callbacks import MenuCb, PayCb, PayMethod, PlanCb, Screen, new_nonce
from services.bot.followups import Followups
from services.bot.formatting import traffic
from services.bot.i18n import Translator
from services.bot.invoices import InvoicePresenter, InvoiceScreen
from services.bot.keyboards import buy as kb
from services.bot.keyboards.menu import back_to_menu
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories.users import UserRow
from services.bot.states import Buy
from services.bot.telegram.safe_edit import show

GB = 1024 ** 3


def cryptobot_enabled(settings: Settings) -> bool:
    token = settings.cryptopay.cryptopay_token
    return bool(token and token.get_secret_value())


def router() -> Router:
    r = Router(name="buy")
    r.message.register(buy_command, Command("buy"))
    r.callback_query.register(buy_button, MenuCb.filter(F.to == Screen.BUY))
    r.callback_query.register(choose_plan, PlanCb.filter(), StateFilter(Buy.plan, Buy.method, Buy.invoice))
    r.callback_query.register(choose_method, PayCb.filter(), StateFilter(Buy.method, Buy.invoice))
    return r


async def buy_command(message: Message, bot: Bot, t: Translator, db: Database, settings: Settings,
                      state: FSMContext) -> None:
    await open_plans(bot, message.chat.id, None, t, db, settings, state)


async def buy_button(query: CallbackQuery, bot: Bot, t: Translator, db: Database, settings: Settings,
                     state: FSMContext) -> None:
    await open_plans(bot, query.from_user.id, query.message, t, db, settings, state)


async def open_plans(bot: Bot, chat_id: int, origin, t: Translator, db: Database, settings: Settings,
                     state: FSMContext) -> None:
    async with db.acquire() as conn:
        items = await plans.active(conn)
    if not items:
        await show(bot, chat_id, origin, t("buy.no_plans"), back_to_menu(t))
        return
    flow = new_nonce()
    await state.set_state(Buy.plan)
    await state.set_data({"flow": flow})
    await show(bot, chat_id, origin, t("buy.choose_plan"),
               kb.plans(t, flow, items, settings.cryptopay.shop_currency))


async def choose_plan(query: CallbackQuery, callback_data: PlanCb, bot: Bot, t: Translator, db: Database,
                      settings: Settings, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    if data.get("flow") != callback_data.flow:
        answer.set(t("stale"))
        return
    async with db.acquire() as conn:
        plan = await plans.get_active(conn, callback_data.plan)
    if plan is None:
        answer.set(t("buy.plan_gone"))
        return
    await state.set_state(Buy.method)
    await state.set_data({"flow": callback_data.flow, "plan": plan.id})
    await show(bot, query.from_user.id, query.message, _plan_summary(t, plan, settings) + "\n\n" + t("buy.choose_method"),
               kb.methods(t, callback_data.flow, cryptobot_enabled(settings)))


def _plan_summary(t: Translator, plan: Plan, settings: Settings) -> str:
    limit = t("traffic.unlimited") if plan.traffic_gb == 0 else traffic(plan.traffic_gb * GB)
    return t("buy.plan_summary", days=plan.days, price=money(plan.price, settings.cryptopay.shop_currency),
             stars=money(plan.stars_price, "XTR"), traffic=limit)


async def choose_method(query: CallbackQuery, callback_data: PayCb, user: UserRow, t: Translator, db: Database,
                        settings: Settings, state: FSMContext, answer: Answer, invoices: InvoicePresenter,
                        followups: Followups) -> None:
    data = await state.get_data()
    if data.get("flow") != callback_data.flow or not data.get("plan"):
        answer.set(t("stale"))
        return
    method = callback_data.method
    if method is PayMethod.CRYPTOBOT and not cryptobot_enabled(settings):
        answer.set(t("buy.method_unavailable"))
        return
    request_id = f"buy:{user.id}:{callback_data.flow}:{data['plan']}:{method.value}"
    if data.get("stars_sent") == request_id:
        answer.set(t("invoice.already_sent"))
        return
    if followups.running(request_id):
        answer.set(t("invoice.preparing_toast"))
        return
    async with db.acquire() as conn:
        plan = await plans.get_active(conn, int(data["plan"]))
    if plan is None:
        answer.set(t("buy.plan_gone"))
        return
    await state.set_state(Buy.invoice)
    await answer.now()  # the tap is acknowledged before payments is asked
    screen = InvoiceScreen(
        chat_id=query.from_user.id,
        message_id=query.message.message_id if query.message else None,
        again=callback_data,
        title=t("invoice.stars_title", days=plan.days),
        description=t("invoice.stars_description", days=plan.days),
    )
    request = CreateInvoice(user_id=user.id, method=method.value, plan_id=plan.id, request_id=request_id)
    await invoices.present(request, screen, t, state)
