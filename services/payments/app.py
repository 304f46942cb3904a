"""Composition root of the payments process: Crypto Pay invoices, the webhook and the confirmation
of its claims, Telegram Stars, reconciliation, refunds; every path into settlement goes through one
Settlement."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.payments.settings import Settings
from common.contract.payments import (
    BUY_TRAFFIC, CHANGE_PLAN, CHECK_PAYMENT, CLAIM_FREE_PLAN, CREATE_INVOICE, EDIT_STAR_SUBSCRIPTION, REFUND, STARS_PAID,
    STARS_PRE_CHECKOUT, STARS_REFUNDED,
)
from common.db.database import Database, DatabaseUnavailable
from common.ipc.client import RpcClient
from common.ipc.nudges import PeerNudges
from common.lifecycle import ServiceContext
from common.telegram.bot_api import BotApi, BotApiError
from services.payments.checks import PaymentChecks
from services.payments.claim_writer import ClaimWriter
from services.payments.confirmation import ClaimConfirmer
from services.payments.cryptopay_client import CryptoPayClient, CryptoPayError, CryptoPayUnavailable
from services.payments.free_plans import FreePlans
from services.payments.invoices import Invoicing
from services.payments.plan_changes import PlanChanges
from services.payments.reconciliation import CryptoReconciler
from services.payments.refunds import Refunds
from services.payments.renewal_cancels import RenewalCancels
from services.payments.repositories import claims, purchases, renewal_cancels
from services.payments.settlement import CreditTerms, Overloaded, Settlement
from services.payments.signature import SignatureVerifier
from services.payments.star_subscriptions import StarSubscriptions
from services.payments.stars import Stars
from services.payments.stars_api import StarsApi
from services.payments.traffic_packages import TrafficPackages
from services.payments.webhook import CryptoBotWebhook, webhook_app
from services.payments.webhook_server import WebhookServer

log = logging.getLogger(__name__)


@dataclass
class Payments:
    settings: Settings
    db: Database
    nudger: PeerNudges
    settlement: Settlement
    invoicing: Invoicing
    webhook: CryptoBotWebhook
    server: WebhookServer
    stars: Stars
    reconciler: CryptoReconciler | None
    confirmer: ClaimConfirmer | None
    refunds: Refunds
    checks: PaymentChecks
    free_plans: FreePlans
    plan_changes: PlanChanges
    traffic_packages: TrafficPackages
    star_subscriptions: StarSubscriptions
    renewal_cancels: RenewalCancels
    cryptopay: CryptoPayClient | None
    bot_api: StarsApi | None

    async def reconcile_once(self) -> None:
        """One pass over both providers; a provider that is down does not stop the other."""
        await self.db.wait_ready()
        if self.reconciler is not None:
            try:
                await self.reconciler.run_pass()
            except (CryptoPayUnavailable, CryptoPayError, DatabaseUnavailable, Overloaded) as exc:
                log.warning("crypto pay reconciliation incomplete", extra={"error": str(exc)})
        try:
            await self.stars.reconcile()
        except (BotApiError, DatabaseUnavailable, Overloaded) as exc:
            log.warning("stars reconciliation incomplete", extra={"error": str(exc)})

    async def reconcile_forever(self) -> None:
        # The first pass runs at once: after a restart, whatever was paid meanwhile settles now.
        while True:
            await self.reconcile_once()
            await asyncio.sleep(self.settings.payments.reconcile_interval)

    async def drain(self) -> None:
        await self.server.drain()
        await self.invoicing.drain(timeout=self.settings.health.shutdown_timeout / 3)
        await self.renewal_cancels.drain(self.settings.health.shutdown_timeout / 3)

    async def close(self) -> None:
        for client in (self.cryptopay, self.bot_api):
            if client is not None:
                await client.close()

    def details(self) -> dict[str, Any]:
        return {"settlements": dict(self.settlement.counts), "webhook": dict(self.webhook.counts),
                "nudges": {"sent": self.nudger.sent, "failed": self.nudger.failed},
                "claims": dict(self.confirmer.counts) if self.confirmer else {},
                "reconcile_passes": self.reconciler.passes if self.reconciler else 0}


def build(settings: Settings, db: Database, client_for: Callable[[str], RpcClient]) -> Payments:
    cp = settings.cryptopay
    token = cp.cryptopay_token.get_secret_value() if cp.cryptopay_token else ""
    cryptopay = CryptoPayClient(cp.cryptopay_api_url, token, timeout=cp.cryptopay_timeout,
                                read_attempts=cp.cryptopay_read_attempts) if token else None
    bot_token = settings.telegram.bot_token.get_secret_value() if settings.telegram.bot_token else ""
    bot_api = StarsApi(BotApi(settings.telegram.telegram_api_url, bot_token,
                              timeout=settings.telegram.request_timeout)) if bot_token else None

    nudger = PeerNudges(client_for, settings.payments.nudge_timeout, ("vpn_gateway", "bot"))
    # One connection stays free of settlements for RPCs and reconciliation's reads.
    terms = CreditTerms(referral_bonus_days=settings.shop.referral_bonus_days,
                        gift_valid_days=settings.shop.gift_valid_days)
    settlement = Settlement(db, nudger, terms, concurrency=max(1, db.size - 1))
    confirmer = ClaimConfirmer(db, cryptopay, settlement, nudger, cp, settings.payments) if cryptopay else None
    webhook = CryptoBotWebhook(SignatureVerifier(token or None), ClaimWriter(db), confirmer.wake if confirmer else lambda: None,
                               max_body=settings.payments.webhook_max_body,
                               body_timeout=settings.payments.webhook_body_timeout)
    server = WebhookServer(webhook_app(webhook), settings.payments.payments_host, settings.payments.payments_port,
                           shutdown_timeout=settings.health.shutdown_timeout / 3)
    cancels = RenewalCancels(db, bot_api, retry_base=settings.payments.telegram_retry_base)
    refunds = Refunds(db, bot_api, nudger, cp.shop_currency, cancels.nudge)
    stars = Stars(db, settlement.settle, bot_api, settings.payments.reconcile_grace, refunds.chargeback)
    reconciler = CryptoReconciler(db, cryptopay, settlement.settle, cp, settings.payments) if cryptopay else None
    invoicing = Invoicing(db, cryptopay, cp, settings.payments, settings.traffic)
    return Payments(
        settings=settings, db=db, nudger=nudger, settlement=settlement,
        invoicing=invoicing, webhook=webhook, server=server, stars=stars,
        reconciler=reconciler, confirmer=confirmer, refunds=refunds,
        checks=PaymentChecks(db, cryptopay, stars, settlement.settle, cp),
        free_plans=FreePlans(db, nudger, cp, settings.payments, terms),
        plan_changes=PlanChanges(db, invoicing, nudger, cp, settings.payments),
        traffic_packages=TrafficPackages(db, nudger, settings.traffic, cp.shop_currency, terms),
        star_subscriptions=StarSubscriptions(db, bot_api, cancels.nudge), renewal_cancels=cancels,
        cryptopay=cryptopay, bot_api=bot_api,
    )


async def setup(ctx: ServiceContext[Settings]) -> None:
    payments = build(ctx.settings, ctx.db, ctx.client)
    ctx.rpc.handle(CREATE_INVOICE, payments.invoicing.create)
    ctx.rpc.handle(STARS_PRE_CHECKOUT, payments.stars.pre_checkout)
    ctx.rpc.handle(STARS_PAID, payments.stars.paid)
    ctx.rpc.handle(CHECK_PAYMENT, payments.checks.check)
    ctx.rpc.handle(REFUND, payments.refunds.refund)
    ctx.rpc.handle(STARS_REFUNDED, payments.refunds.stars_refunded)
    ctx.rpc.handle(EDIT_STAR_SUBSCRIPTION, payments.star_subscriptions.edit)
    ctx.rpc.handle(CLAIM_FREE_PLAN, payments.free_plans.claim)
    ctx.rpc.handle(CHANGE_PLAN, payments.plan_changes.change)
    ctx.rpc.handle(BUY_TRAFFIC, payments.traffic_packages.buy_with_balance)
    ctx.supervise("nudger", payments.nudger.run)
    ctx.supervise("reconcile", payments.reconcile_forever)
    ctx.supervise("star_renewal_cancels", payments.renewal_cancels.run)
    if payments.confirmer is not None:
        ctx.supervise("confirm_claims", payments.confirmer.run)

    ctx.add_db_queue("pending_purchases", purchases.pending_count)
    ctx.add_db_queue("webhook_claims", claims.pending_count)
    ctx.add_db_queue("star_renewal_cancels", renewal_cancels.pending_count)
    ctx.add_detail("payments", payments.details)
    ctx.add_readiness("webhook", lambda: (payments.server.listening, "webhook listener is not running"))
    ctx.on_drain(payments.drain)
    ctx.on_shutdown(payments.close)
    await payments.server.start()
    if payments.cryptopay is None:
        log.warning("ATCS_CRYPTOPAY_TOKEN is empty: Crypto Bot payments are off")
    if payments.bot_api is None:
        log.warning("ATCS_BOT_TOKEN is empty: Stars reconciliation and refunds are off")
    log.info("webhook listening", extra={"host": ctx.settings.payments.payments_host,
                                         "port": payments.server.port})
