"""Traffic packages (issue 12.3): "My subscription" → "Extra traffic" → a package → how to pay.

Offered only where it means something: an active subscription with a traffic limit, on a panel
whose limit lasts (common.contract.vpn_gateway.LASTING_TRAFFIC_LIMIT, read from the user's
vpn_accounts row: no call to vpn_gateway in the chat path), and packages in ATCS_TRAFFIC_PACKAGES.
payments judges all of it again. The balance pays at once (BUY_TRAFFIC); Crypto Bot and Stars go
through the same invoice path as a plan. The request_id is the screen's flow, the package and the
method, so a double tap is one package.
"""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice, TrafficPurchase, traffic_refusal
from common.contract.vpn_gateway import LASTING_TRAFFIC_LIMIT
from common.db.database import Database
from common.ipc import RpcError
from common.settings.traffic import TrafficPackage, TrafficSettings
from common.shop.traffic import panel_limit
from common.texts import money
from services.bot.callbacks import MenuCb, Screen, SubAction, SubCb, TrafficCb, TrafficMethod, new_nonce
from services.bot.formatting import days_left, traffic
from services.bot.handlers.buy import cryptobot_enabled
from services.bot.i18n import Translator
from services.bot.invoices import InvoicePresenter, InvoiceScreen
from services.bot.keyboards import buy as buy_kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers, transient
from services.bot.repositories import subscriptions
from services.bot.repositories.subscriptions import SubscriptionView
from services.bot.repositories.users import UserRow
from services.bot.settings import Settings
from services.bot.states import TrafficTopup
from services.bot.telegram.safe_edit import safe_edit, show

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="traffic")
    r.callback_query.register(offer, SubCb.filter(F.action == SubAction.TRAFFIC))
    r.callback_query.register(package_chosen, TrafficCb.filter(F.method.is_(None)), StateFilter(TrafficTopup.choose))
    r.callback_query.register(pay, TrafficCb.filter(F.method.is_not(None)), StateFilter(TrafficTopup.choose))
    return r


def sells_traffic(view: SubscriptionView, settings: TrafficSettings) -> bool:
    """Whether "Extra traffic" is offered to this subscription (payments judges it again)."""
    return (bool(settings.traffic_packages) and view.status == "active" and days_left(view.expires_at) > 0
            and view.traffic_limit_bytes > 0 and view.access_key is not None
            and view.backend in LASTING_TRAFFIC_LIMIT)


async def _view(db: Database, user_id: int) -> SubscriptionView:
    async with db.acquire() as conn:
        return await subscriptions.overview(conn, user_id)


async def offer(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
                state: FSMContext, answer: Answer) -> None:
    view = await _view(db, user.id)
    if not sells_traffic(view, settings.traffic):
        answer.set(t("traffic.unavailable"))
        return
    flow = new_nonce()
    await state.set_state(TrafficTopup.choose)
    await state.set_data({"traffic": flow})
    currency = settings.cryptopay.shop_currency
    kb = InlineKeyboardBuilder()
    for package in settings.traffic.traffic_packages:
        kb.button(text=t("traffic.package_button", gb=package.gb, price=money(package.price, currency),
                         stars=money(package.stars, "XTR")),
                  callback_data=TrafficCb(flow=flow, package=package.id))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    await show(bot, query.from_user.id, query.message, t("traffic.choose", limit=traffic(view.limit_bytes)),
               kb.as_markup())


def _chosen(callback_data: TrafficCb, data: dict, settings: Settings, t: Translator,
            answer: Answer) -> TrafficPackage | None:
    """The package the tap names, if the tap belongs to this user's screen and the package is on
    sale; else the answer says why and nothing happens."""
    if data.get("traffic") != callback_data.flow:
        answer.set(t("stale"))
        return None
    package = settings.traffic.package(callback_data.package)
    if package is None:
        answer.set(t("traffic.refused_unknown"))
    return package


async def package_chosen(query: CallbackQuery, callback_data: TrafficCb, bot: Bot, user: UserRow, t: Translator,
                         db: Database, settings: Settings, state: FSMContext, answer: Answer) -> None:
    package = _chosen(callback_data, await state.get_data(), settings, t, answer)
    if package is None:
        return
    view = await _view(db, user.id)
    currency = settings.cryptopay.shop_currency
    text = t("traffic.summary", gb=package.gb, price=money(package.price, currency),
             stars=money(package.stars, "XTR"),
             limit=traffic(panel_limit(view.traffic_limit_bytes, view.extra_traffic_bytes + package.bytes)))
    await show(bot, query.from_user.id, query.message, text,
               _methods(t, callback_data.flow, package, view, currency, cryptobot_enabled(settings)))


def _methods(t: Translator, flow: str, package: TrafficPackage, view: SubscriptionView, currency: str,
             cryptobot: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if view.balance >= package.price:
        kb.button(text=t("traffic.pay_balance", balance=money(view.balance, currency)),
                  callback_data=TrafficCb(flow=flow, package=package.id, method=TrafficMethod.BALANCE))
    if cryptobot:
        kb.button(text=t("buy.method_cryptobot"),
                  callback_data=TrafficCb(flow=flow, package=package.id, method=TrafficMethod.CRYPTOBOT))
    kb.button(text=t("buy.method_stars"), callback_data=TrafficCb(flow=flow, package=package.id, method=TrafficMethod.STARS))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return kb.as_markup()


async def pay(query: CallbackQuery, callback_data: TrafficCb, bot: Bot, user: UserRow, t: Translator,
              settings: Settings, peers: Peers, state: FSMContext, answer: Answer,
              invoices: InvoicePresenter) -> None:
    package = _chosen(callback_data, await state.get_data(), settings, t, answer)
    if package is None:
        return
    method = callback_data.method
    assert method is not None
    if method is TrafficMethod.CRYPTOBOT and not cryptobot_enabled(settings):
        answer.set(t("buy.method_unavailable"))
        return
    request_id = f"traffic:{user.id}:{callback_data.flow}:{package.id}:{method.value}"
    await answer.now()  # acknowledged before payments is asked
    chat_id = query.from_user.id
    message_id = query.message.message_id if query.message else None
    if method is not TrafficMethod.BALANCE:
        screen = InvoiceScreen(chat_id=chat_id, message_id=message_id, again=callback_data,
                               title=t("traffic.invoice_title", gb=package.gb),
                               description=t("traffic.invoice_description", gb=package.gb))
        request = CreateInvoice(user_id=user.id, method=method.value, traffic_package=package.id,
                                request_id=request_id)
        await invoices.present(request, screen, t, state)
        return
    try:
        bought = await peers.buy_traffic(TrafficPurchase(user_id=user.id, package=package.id, request_id=request_id))
    except RpcError as exc:
        refusal = traffic_refusal(exc.message) if exc.code == RpcErrorCode.CONFLICT else None
        if refusal is not None:
            await safe_edit(bot, chat_id, message_id, refusal_text(t, refusal), _to_subscription(t))
        elif transient(exc):
            # The same tap again is the same request: at most one package, whenever it lands.
            await safe_edit(bot, chat_id, message_id, t("invoice.try_again"), buy_kb.retry(t, callback_data))
        else:
            log.warning("traffic package refused", extra={"code": str(exc.code), "user_id": user.id})
            await safe_edit(bot, chat_id, message_id, t("invoice.failed"), _to_subscription(t))
        return
    await state.clear()
    await safe_edit(bot, chat_id, message_id,
                    t("traffic.added", gb=bought.gb, limit=traffic(bought.limit_bytes),
                      balance=money(bought.balance, bought.currency)), _to_subscription(t))


def refusal_text(t: Translator, refusal: str) -> str:
    return {
        "unknown_package": t("traffic.refused_unknown"),
        "balance_short": t("traffic.refused_balance"),
    }.get(refusal, t("traffic.refused_not_eligible"))


def _to_subscription(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    return kb.as_markup()
