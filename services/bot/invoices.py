"""Getting an invoice from payments onto the screen, shared by plan purchases and top-ups.

The request carries an idempotency key derived from the FSM flow, so a double tap, a "try again"
or a follow-up after a timeout all get the same invoice. Within the handler's deadline the invoice
replaces the screen at once; past it the user sees "working on it" (with a live "try again") and a
follow-up finishes the job and edits the message.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup, LabeledPrice

from services.bot.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice, Invoice, promo_refusal
from common.ipc import RpcError
from common.texts import money
from services.bot.callbacks import PayCb, TopupCb, TrafficCb
from services.bot.followups import Followups
from services.bot.i18n import Translator
from services.bot.keyboards import buy as kb
from services.bot.keyboards.menu import back_to_menu
from services.bot.peers.shop import Peers, retry_until, transient
from services.bot.promo_view import refusal_text
from services.bot.telegram.safe_edit import safe_edit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvoiceScreen:
    chat_id: int
    message_id: int | None        # the screen to replace
    again: PayCb | TopupCb | TrafficCb   # the tap that asked for it: "try again" repeats it
    title: str                    # Stars invoice title/description when payments gives none
    description: str
    promo_code: str | None = None # named in the sentence when payments refuses the code


class InvoicePresenter:
    def __init__(self, bot: Bot, peers: Peers, followups: Followups, settings: Settings) -> None:
        self.bot = bot
        self.peers = peers
        self.followups = followups
        self.settings = settings

    async def present(self, request: CreateInvoice, screen: InvoiceScreen, t: Translator, state: FSMContext) -> None:
        if self.followups.running(request.request_id):
            return  # a follow-up for this very invoice is already on it
        try:
            invoice = await self.peers.create_invoice(request)
        except RpcError as exc:
            if await self._promo_refused(exc, screen, t):
                return
            if not transient(exc):
                log.warning("invoice refused", extra={"code": str(exc.code), "user_id": request.user_id})
                await safe_edit(self.bot, screen.chat_id, screen.message_id, t("invoice.failed"),
                                kb.retry(t, screen.again))
                return
            shown = await safe_edit(self.bot, screen.chat_id, screen.message_id, t("invoice.preparing"),
                                    kb.retry(t, screen.again))
            later = InvoiceScreen(screen.chat_id, shown, screen.again, screen.title, screen.description,
                                  screen.promo_code)
            if not self.followups.start(request.request_id, self._finish(request, later, t, state)):
                await safe_edit(self.bot, screen.chat_id, shown, t("invoice.try_again"), kb.retry(t, screen.again))
            return
        await self._deliver(invoice, request, screen, t, state)

    async def _finish(self, request: CreateInvoice, screen: InvoiceScreen, t: Translator, state: FSMContext) -> None:
        budget = self.settings.bot.bot_followup_timeout
        try:
            invoice = await retry_until(lambda timeout: self.peers.create_invoice(request, timeout), budget,
                                        attempt=max(self.settings.bot.bot_rpc_deadline, 2.0))
        except RpcError as exc:
            if await self._promo_refused(exc, screen, t):
                return
            log.warning("invoice not created in time", extra={"code": str(exc.code), "user_id": request.user_id})
            await safe_edit(self.bot, screen.chat_id, screen.message_id, t("invoice.try_again"),
                            kb.retry(t, screen.again))
            return
        await self._deliver(invoice, request, screen, t, state)

    async def _promo_refused(self, exc: RpcError, screen: InvoiceScreen, t: Translator) -> bool:
        """payments judged the code again and refused it (used up meanwhile, say): the one
        sentence saying why replaces the screen. False for any other error."""
        refusal = promo_refusal(exc.message) if exc.code == RpcErrorCode.CONFLICT else None
        if refusal is None:
            return False
        await safe_edit(self.bot, screen.chat_id, screen.message_id, refusal_text(t, refusal, screen.promo_code or ""),
                        back_to_menu(t))
        return True

    async def _deliver(self, invoice: Invoice, request: CreateInvoice, screen: InvoiceScreen, t: Translator,
                       state: FSMContext) -> None:
        if invoice.method == "cryptobot":
            if not invoice.invoice_url:
                raise RuntimeError("payments returned a Crypto Bot invoice without a URL")
            markup: InlineKeyboardMarkup = kb.pay_url(t, invoice.invoice_url)
            await safe_edit(self.bot, screen.chat_id, screen.message_id,
                            t("invoice.cryptobot", amount=money(invoice.amount, invoice.currency)), markup)
            return
        data = await state.get_data()
        if data.get("stars_sent") == request.request_id:
            return  # this invoice is already in the chat: never put a second one there
        if not invoice.stars_payload:
            raise RuntimeError("payments returned a Stars invoice without a payload")
        title = (invoice.title or screen.title)[:32]
        description = (invoice.description or screen.description)[:255]
        if invoice.subscription_period:
            # A Stars subscription exists only as an invoice link: Telegram charges it again every period.
            link = await self.bot.create_invoice_link(
                title=title, description=description, payload=invoice.stars_payload, currency="XTR",
                prices=[LabeledPrice(label=title, amount=int(invoice.amount))],
                subscription_period=invoice.subscription_period)
            await state.update_data(stars_sent=request.request_id)
            await safe_edit(self.bot, screen.chat_id, screen.message_id,
                            t("invoice.subscription_link", amount=money(invoice.amount, "XTR")),
                            kb.subscribe_url(t, link))
            return
        await self.bot.send_invoice(
            chat_id=screen.chat_id, title=title, description=description, payload=invoice.stars_payload,
            currency="XTR", provider_token="", prices=[LabeledPrice(label=title, amount=int(invoice.amount))])
        await state.update_data(stars_sent=request.request_id)
        await safe_edit(self.bot, screen.chat_id, screen.message_id,
                        t("invoice.stars_sent", amount=money(invoice.amount, "XTR")), None)
