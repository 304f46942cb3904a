"""create_invoice: a pending purchase first, then the provider's invoice carrying its id.

The purchase row comes first so the invoice payload can name it: even if we crash between the
provider's answer and storing its invoice id, a payment of that invoice still finds its purchase.
The same (user, request_id) always returns the same purchase and invoice. createInvoice itself
is never retried blindly (it is a write); concurrent retries of one request wait on a per-purchase
lock, and the call runs to its end even if the RPC that started it gives up: Invoicing owns that
call and its outcome. When the provider cannot make the invoice, the purchase is closed at once as
'failed' (the user is told to try again); "try again" repeats the request and reopens it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.contract.base import RpcErrorCode
from common.contract.payments import CreateInvoice, Invoice
from common.db.database import Database, DatabaseUnavailable
from common.ipc.errors import RpcError
from common.settings.traffic import TrafficSettings
from common.shop import plans, pricing, promos
from common.shop.promos import Refusal
from common.texts import money, text
from services.payments import payload
from services.payments.promo_holds import hold, named_promo, refused
from services.payments.cryptopay_client import CryptoPayClient, CryptoPayError, CryptoPayUnavailable
from services.payments.repositories import purchases
from services.payments.repositories.star_subscriptions import PERIOD_SECONDS as SUBSCRIPTION_PERIOD
from services.payments.request_checks import allowed_customer, check_request
from services.payments.traffic_rules import sellable
from services.payments.repositories.purchases import Purchase

log = logging.getLogger(__name__)
CENT = Decimal("0.01")

T = TypeVar("T")


class Invoicing:
    def __init__(self, db: Database, cryptopay: CryptoPayClient | None, cryptopay_settings: CryptoPaySettings,
                 payments_settings: PaymentsSettings, traffic: TrafficSettings) -> None:
        self.db = db
        self.traffic = traffic
        self.cryptopay = cryptopay
        self.cp = cryptopay_settings
        self.settings = payments_settings
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._running: set[asyncio.Task] = set()
        self._abandoned: set[asyncio.Task] = set()

    async def create(self, request: CreateInvoice) -> Invoice:
        if sum(x is not None for x in (request.plan_id, request.topup_amount, request.traffic_package)) != 1:
            raise RpcError(RpcErrorCode.BAD_REQUEST, "give exactly one of plan_id, topup_amount or traffic_package")
        if request.method == "stars" and request.topup_amount is not None:
            raise RpcError(RpcErrorCode.BAD_REQUEST, "balance top-ups are paid with Crypto Bot only")
        check_request(request.user_id, request.request_id, plan_id=request.plan_id)
        if request.recurring and (request.method != "stars" or request.gift or request.promo_code is not None
                                  or request.plan_id is None or request.traffic_package is not None):
            # Telegram charges a subscription the same amount every month: no discount, no gift.
            raise RpcError(RpcErrorCode.BAD_REQUEST, "a subscription is a Stars plan for oneself, without a code")
        if request.method == "cryptobot" and self.cryptopay is None:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "Crypto Bot payments are not configured")

        purchase, title, description = await self._pending_purchase(request)
        if purchase.status not in ("pending", "paid", "failed"):
            # A retry of an old request: that invoice can no longer be paid (a paid one is returned).
            raise RpcError(RpcErrorCode.CONFLICT, f"purchase {purchase.id} is {purchase.status}; start a new one")
        if request.method == "stars":
            return Invoice(purchase_id=purchase.id, method="stars", amount=purchase.amount, currency="XTR",
                           stars_payload=payload.encode(purchase.id), title=title, description=description,
                           subscription_period=SUBSCRIPTION_PERIOD if purchase.recurring else None)
        if purchase.invoice_url is None:
            purchase = await self._detached(self._issue(purchase, description))
        return Invoice(purchase_id=purchase.id, method="cryptobot", amount=purchase.amount,
                       currency=purchase.currency, invoice_url=purchase.invoice_url)

    async def issue(self, purchase: Purchase, description: str) -> Purchase:
        """The Crypto Pay invoice of a pending purchase made elsewhere (a plan change), as `create` makes it."""
        if self.cryptopay is None:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "Crypto Bot payments are not configured")
        if purchase.invoice_url is not None:
            return purchase
        return await self._detached(self._issue(purchase, description))

    async def _pending_purchase(self, request: CreateInvoice) -> tuple[Purchase, str, str]:
        async with self.db.transaction() as conn:
            customer = await allowed_customer(conn, request.user_id)
            promo: promos.Promo | None = None
            list_amount: Decimal | None = None
            if request.plan_id is not None:
                plan = await plans.get_active(conn, request.plan_id)
                if plan is None:
                    raise RpcError(RpcErrorCode.NOT_FOUND, f"no active plan {request.plan_id}")
                promo = await named_promo(conn, request.promo_code) if request.promo_code is not None else None
                if promo is not None and not promo.applies_to(plan.id):
                    raise refused(Refusal.NOT_APPLICABLE)
                if request.recurring and plan.days * 86400 != SUBSCRIPTION_PERIOD:
                    raise RpcError(RpcErrorCode.BAD_REQUEST, "only a 30-day plan is sold as a Stars subscription")
                price = pricing.quote(plan, promo.discount if promo else None)
                if price.free:
                    # Nothing to invoice: the bot claims it (CLAIM_FREE_PLAN); a gift must be paid for.
                    raise refused(Refusal.NOT_APPLICABLE) if request.gift else RpcError(
                        RpcErrorCode.BAD_REQUEST, "this code makes the plan free: claim it instead")
                kind = "gift" if request.gift else "subscription"
                days, plan_id = price.days, plan.id
                traffic = plan.traffic_gb * 1024**3 if plan.traffic_gb else 0
                # In the payer's language: Telegram's invoice and Crypto Bot's pay page show these.
                language = customer.language
                title = text(language, "invoice.gift_title" if request.gift else "invoice.stars_title", days=days)
                if request.recurring:
                    title = text(language, "invoice.subscription_title")
                if request.method == "stars":
                    amount, currency, list_amount = Decimal(price.stars), "XTR", Decimal(price.list_stars)
                    description = text(language, "invoice.subscription_description" if request.recurring
                                       else "invoice.stars_description", days=days)
                else:
                    amount, currency, list_amount = price.amount, self.cp.shop_currency, price.list_amount
                    description = text(language, "invoice.cryptobot_description", plan=plan.code, days=days)
                if request.gift:
                    description += " " + text(language, "invoice.gift_note")
                if promo is not None:
                    description += " " + text(language, "invoice.promo_note", code=promo.code)
            elif request.traffic_package is not None:
                if request.promo_code is not None or request.gift:
                    raise RpcError(RpcErrorCode.BAD_REQUEST, "a traffic package takes no promo code and is no gift")
                package = await sellable(conn, self.traffic, request.user_id, request.traffic_package)
                kind, days, plan_id, traffic = "traffic", None, None, package.bytes
                title = text(customer.language, "traffic.invoice_title", gb=package.gb)
                description = text(customer.language, "traffic.invoice_description", gb=package.gb)
                if request.method == "stars":
                    amount, currency = Decimal(package.stars), "XTR"
                else:
                    amount, currency = package.price, self.cp.shop_currency
            else:
                if request.promo_code is not None or request.gift:
                    raise RpcError(RpcErrorCode.BAD_REQUEST, "a balance top-up takes no promo code and is no gift")
                amount = self._topup_amount(request.topup_amount)
                kind, days, plan_id, traffic, currency = "topup", None, None, None, self.cp.shop_currency
                title = text(customer.language, "balance.topup_title")
                description = text(customer.language, "invoice.topup_description", amount=money(amount, currency))
            ttl = self.settings.stars_invoice_ttl if request.method == "stars" else self.cp.cryptopay_invoice_ttl
            purchase = await purchases.insert_pending(
                conn, user_id=request.user_id, plan_id=plan_id, kind=kind, method=request.method, amount=amount,
                currency=currency, request_id=request.request_id, days=days, traffic_limit_bytes=traffic,
                ttl_seconds=ttl, promo_code_id=promo.id if promo else None,
                list_amount=list_amount if promo else None, traffic_package=request.traffic_package,
                recurring=request.recurring)
            if purchase is None:
                purchase = await purchases.by_request(conn, request.user_id, request.request_id)
                assert purchase is not None
                if (purchase.method, purchase.plan_id, purchase.kind, purchase.promo_code_id,
                        purchase.traffic_package, purchase.recurring) != (
                        request.method, plan_id, kind, promo.id if promo else None,
                        request.traffic_package, request.recurring) or (
                        kind == "topup" and purchase.amount != amount):
                    raise RpcError(RpcErrorCode.CONFLICT, "request_id was already used for a different purchase")
            elif promo is not None:
                # The new purchase holds a use from now on: judged under the code's lock, so two
                # invoices never both take its last use. Refused: the purchase is rolled back.
                await hold(conn, promo.id, purchase)
        return purchase, title, description

    def _topup_amount(self, amount: Decimal | None) -> Decimal:
        assert amount is not None
        if not amount.is_finite() or amount != amount.quantize(CENT):
            raise RpcError(RpcErrorCode.BAD_REQUEST, "top-up amount must be a whole number of cents")
        if not self.settings.topup_min <= amount <= self.settings.topup_max:
            raise RpcError(RpcErrorCode.BAD_REQUEST,
                           f"top-up must be between {self.settings.topup_min} and {self.settings.topup_max}")
        return amount

    async def _detached(self, work: Coroutine[Any, Any, T]) -> T:
        # Shielded: an RPC deadline must not cut createInvoice between the provider's answer and
        # storing it; the retry of the same request then finds the stored invoice.
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._finished)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self._abandoned.add(task)  # the caller gave up; the outcome is ours to handle now
            raise

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        abandoned = task in self._abandoned
        self._abandoned.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved here whether or not a caller is still waiting
        if error is None or not abandoned or isinstance(error, RpcError):
            return  # a caller got it, or _issue has already logged why the provider failed
        if isinstance(error, DatabaseUnavailable):
            log.warning("invoice creation stopped: database unavailable", extra={"error": str(error)})
        else:
            log.error("invoice creation failed after its caller gave up", exc_info=error)

    async def _issue(self, purchase: Purchase, description: str) -> Purchase:
        async with self._lock(purchase.id):
            async with self.db.acquire() as conn:
                current = await purchases.get(conn, purchase.id)
            if current is not None and current.status == "failed":
                # "Try again" of a purchase whose invoice could not be made: it is open again (and
                # holds its promo code's use again, if the code still has one for it).
                async with self.db.transaction() as conn:
                    if current.promo_code_id is not None:
                        await hold(conn, current.promo_code_id, current)
                    current = await purchases.reopen_failed(conn, purchase.id, self.cp.cryptopay_invoice_ttl) \
                        or await purchases.get(conn, purchase.id)
            assert current is not None
            if current.invoice_url is not None or current.provider_invoice_id is not None or \
                    current.status != "pending":
                return current
            assert self.cryptopay is not None
            fiat_mode = self.cp.cryptopay_currency_type == "fiat"
            try:
                created = await self.cryptopay.create_invoice(
                    amount=purchase.amount, currency_type=self.cp.cryptopay_currency_type,
                    asset=None if fiat_mode else purchase.currency, fiat=purchase.currency if fiat_mode else None,
                    accepted_assets=self.cp.accepted_assets() if fiat_mode else None, description=description,
                    payload=payload.encode(purchase.id), expires_in=self.cp.cryptopay_invoice_ttl)
            except CryptoPayUnavailable as exc:
                log.warning("createInvoice failed", extra={"purchase_id": purchase.id, "error": str(exc)})
                await self._close_as_failed(purchase.id)
                raise RpcError(RpcErrorCode.UNAVAILABLE, "the payment provider is not answering; try again") from None
            except CryptoPayError as exc:
                log.error("createInvoice refused", extra={"purchase_id": purchase.id, "error": str(exc)})
                await self._close_as_failed(purchase.id)
                code = RpcErrorCode.BAD_REQUEST if exc.status == 400 else RpcErrorCode.UNAVAILABLE
                raise RpcError(code, f"the payment provider refused the invoice ({exc.name})") from None
            invoice_id = created["invoice_id"]
            url = created.get("bot_invoice_url") or created.get("pay_url")
            async with self.db.acquire() as conn:
                stored = await purchases.attach_invoice(conn, purchase.id, str(invoice_id), url)
                current = await purchases.get(conn, purchase.id)
            assert current is not None
            if not stored:
                # Someone stored another invoice first (e.g. a payment arrived via the payload
                # path): ours must not stay payable.
                await self._delete_quietly(invoice_id)
            return current

    async def _close_as_failed(self, purchase_id: int) -> None:
        """The user is told to try again: the purchase must not wait an hour as pending meanwhile."""
        try:
            async with self.db.acquire() as conn:
                await purchases.fail_without_invoice(conn, purchase_id)
        except DatabaseUnavailable as exc:
            # Reconciliation expires it later (expire_without_invoice): late, never lost.
            log.warning("could not close a purchase without invoice", extra={"purchase_id": purchase_id,
                                                                          "error": str(exc)})

    async def _delete_quietly(self, invoice_id: int) -> None:
        assert self.cryptopay is not None
        try:
            await self.cryptopay.delete_invoice(invoice_id)
        except (CryptoPayError, CryptoPayUnavailable) as exc:
            log.warning("could not delete a surplus invoice", extra={"invoice_id": invoice_id, "error": str(exc)})

    def _lock(self, purchase_id: int) -> "_PurchaseLock":
        return _PurchaseLock(self._locks, purchase_id)

    async def drain(self, timeout: float) -> None:
        """Lets createInvoice calls in flight finish within the bound, then cancels the rest (a
        purchase left without an invoice is expired by reconciliation)."""
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)


class _PurchaseLock:
    """An asyncio.Lock per purchase id, dropped when nobody holds or waits for it."""

    def __init__(self, locks: dict[int, tuple[asyncio.Lock, int]], key: int) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        lock, users = self._locks.get(self._key, (asyncio.Lock(), 0))
        self._locks[self._key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._release_slot()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._locks[self._key][0].release()
        self._release_slot()

    def _release_slot(self) -> None:
        lock, users = self._locks[self._key]
        if users <= 1:
            del self._locks[self._key]
        else:
            self._locks[self._key] = (lock, users - 1)
