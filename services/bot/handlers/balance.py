"""Balance and top-ups (Crypto Bot): the balance pays auto-renewals."""
from __future__ import annotations

from decimal import Decimal

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.contract.payments import CreateInvoice
from common.texts import money
from services.bot.callbacks import MenuCb, Screen, TopupCb, new_nonce
from services.bot.followups import Followups
from services.bot.handlers.buy import cryptobot_enabled
from services.bot.i18n import Translator
from services.bot.invoices import InvoicePresenter, InvoiceScreen
from services.bot.keyboards import buy as kb
from services.bot.keyboards.menu import back_to_menu
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories.users import UserRow
from services.bot.states import Topup
from services.bot.telegram.safe_edit import show

TOPUP_AMOUNTS = (5, 10, 25)


def router() -> Router:
    r = Router(name="balance")
    r.message.register(balance_command, Command("balance"))
    r.callback_query.register(balance_button, MenuCb.filter(F.to == Screen.BALANCE))
    r.callback_query.register(choose_amount, TopupCb.filter(), StateFilter(Topup.amount, Topup.invoice))
    return r


async def balance_command(message: Message, bot: Bot, user: UserRow, t: Translator, settings: Settings,
                          state: FSMContext) -> None:
    await open_balance(bot, message.chat.id, None, user, t, settings, state)


async def balance_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, settings: Settings,
                         state: FSMContext) -> None:
    await open_balance(bot, query.from_user.id, query.message, user, t, settings, state)


async def open_balance(bot: Bot, chat_id: int, origin, user: UserRow, t: Translator, settings: Settings,
                       state: FSMContext) -> None:
    # The user middleware read the row at the start of this update; top-ups land in payments, not here.
    currency = settings.cryptopay.shop_currency
    text = t("balance.text", balance=money(user.balance, currency))
    if not cryptobot_enabled(settings):
        await show(bot, chat_id, origin, text, back_to_menu(t))
        return
    flow = new_nonce()
    await state.set_state(Topup.amount)
    await state.set_data({"flow": flow})
    await show(bot, chat_id, origin, text + "\n\n" + t("balance.topup_choose"), kb.topups(t, flow, TOPUP_AMOUNTS, currency))


async def choose_amount(query: CallbackQuery, callback_data: TopupCb, user: UserRow, t: Translator,
                        state: FSMContext, answer: Answer, invoices: InvoicePresenter, followups: Followups) -> None:
    data = await state.get_data()
    if data.get("flow") != callback_data.flow or callback_data.amount not in TOPUP_AMOUNTS:
        answer.set(t("stale"))
        return
    request_id = f"topup:{user.id}:{callback_data.flow}:{callback_data.amount}"
    if followups.running(request_id):
        answer.set(t("invoice.preparing_toast"))
        return
    await state.set_state(Topup.invoice)
    await answer.now()
    screen = InvoiceScreen(chat_id=query.from_user.id,
                           message_id=query.message.message_id if query.message else None,
                           again=callback_data, title=t("balance.topup_title"), description=t("balance.topup_title"))
    request = CreateInvoice(user_id=user.id, method="cryptobot", topup_amount=Decimal(callback_data.amount),
                            request_id=request_id)
    await invoices.present(request, screen, t, state)
