"""Confirmation of webhook claims: a signed invoice_paid settles only once Crypto Pay's own
getInvoices says that invoice is paid, with the amount and asset/fiat the claim states.

The webhook stores each claim and wakes this worker right after the commit; a periodic scan picks up
claims left from before a restart. Every due claim goes to Crypto Pay in one getInvoices call (up to
ATCS_CONFIRM_BATCH ids, at most the 1000 the API takes), so a burst of webhooks costs a few calls,
not one each; the confirmed ones are settled up to SETTLE_TOGETHER to a transaction, set-based
(settlement.settle_batch_in: a few statements for the chunk, not five per payment), that also marks
them confirmed, so a crash between the two cannot happen. No usable answer (unreachable,
timeout, 429, 5xx): the claims stay and are asked about again after a doubling pause, for as long as
it takes. A contradiction (active, expired, unknown, another amount or asset): nothing is credited,
the claim is marked and the admins are told once. Reconciliation stays the net for webhooks that
never come.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from decimal import Decimal

import asyncpg

from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.db.database import Database, DatabaseUnavailable
from common.ipc.nudges import PeerNudges
from common.shop.outbox import enqueue_admin_alert
from services.payments.cryptobot_payment import cryptobot_payment
from services.payments.cryptopay_client import CryptoPayClient, CryptoPayError, CryptoPayUnavailable
from services.payments.matching import claim_contradiction
from services.payments.provider_models import CryptoInvoice
from services.payments.repositories import claims
from services.payments.repositories.claims import Claim
from services.payments.settlement import Outcome, Overloaded, Payment, Settlement

log = logging.getLogger(__name__)
# The admin alert's kind; the bot renders it (services/bot/notifications/render.py).
CLAIM_CONTRADICTED = "payment_claim_contradicted"
# Confirmed claims settled in one transaction: one commit, one flush to disk, a few statements, for
# all of them. Bounded so that the rare chunk settled again one payment to a savepoint stays short.
SETTLE_TOGETHER = 250
_SHOWN = ("status", "currency_type", "asset", "fiat", "amount", "paid_asset", "paid_amount")


class ClaimConfirmer:
    def __init__(self, db: Database, client: CryptoPayClient, settlement: Settlement, nudger: PeerNudges,
                 cryptopay: CryptoPaySettings, payments: PaymentsSettings) -> None:
        self.db = db
        self.client = client
        self.settlement = settlement
        self.nudger = nudger
        self.cp = cryptopay
        self.settings = payments
        self._wake = asyncio.Event()
        self.counts = {"confirmed": 0, "contradicted": 0, "postponed": 0, "provider_calls": 0}

    def wake(self) -> None:
        """A claim was committed: look now instead of at the next scan."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self.db.wait_ready()
            self._wake.clear()
            try:
                pause = await self.confirm_due()
            except DatabaseUnavailable as exc:
                log.warning("claim confirmation paused: database unavailable", extra={"error": str(exc)})
                pause = self.settings.confirm_retry_base
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def confirm_due(self) -> float:
        """Works off every claim that is due; returns the seconds until the next one is."""
        while True:
            async with self.db.acquire() as conn:
                batch = await claims.due(conn, self.settings.confirm_batch)
            if batch:
                await self._confirm(batch)
            if len(batch) < self.settings.confirm_batch:
                break
        async with self.db.acquire() as conn:
            wait = await claims.seconds_to_next(conn)
        return self.settings.confirm_retry_max if wait is None else min(wait, self.settings.confirm_retry_max)

    async def _confirm(self, batch: list[Claim]) -> None:
        self.counts["provider_calls"] += 1
        try:
            read = await self.client.get_invoices([c.invoice_id for c in batch])
        except (CryptoPayUnavailable, CryptoPayError) as exc:
            # A refusal (e.g. 401 after a token change) is retried as well: the claim is the only
            # record of a payment whose webhook came, and it must outlast any outage.
            await self._postpone(batch, str(exc))
            return
        found = {invoice.invoice_id: invoice for invoice in read.invoices}
        later: list[Claim] = []
        to_settle: list[tuple[Claim, Payment]] = []
        for claim in sorted(batch, key=lambda c: c.invoice_id):
            if claim.invoice_id in read.unreadable:
                later.append(claim)  # it exists and may be paid: ask again, never call it contradicted
                continue
            claimed = CryptoInvoice.model_validate(claim.claimed)
            actual = found.get(claim.invoice_id)
            reason = claim_contradiction(claimed, actual)
            if reason is not None:
                await self._contradicted(claim, claimed, actual, reason)
            else:
                assert actual is not None
                to_settle.append((claim, cryptobot_payment(actual, "webhook", self.cp, claim.update_id)))

        chunks = [to_settle[i:i + SETTLE_TOGETHER] for i in range(0, len(to_settle), SETTLE_TOGETHER)]
        results = await asyncio.gather(*(self._settle(chunk) for chunk in chunks), return_exceptions=True)
        for chunk, result in zip(chunks, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                if not isinstance(result, (DatabaseUnavailable, Overloaded)):
                    log.error("settling confirmed claims failed", exc_info=result)
                later.extend(claim for claim, _ in chunk)
            else:
                later.extend(result)
        if later:
            await self._postpone(later, "not settled yet")

    async def _settle(self, chunk: list[tuple[Claim, Payment]]) -> list[Claim]:
        """Settles confirmed claims in one transaction that also marks them confirmed; returns the
        claims whose settlement failed (to be tried again)."""
        async def mark_confirmed(conn: asyncpg.Connection, outcomes: list[Outcome | None]) -> None:
            await claims.confirm(conn, [(claim, outcome.status)
                                        for (claim, _), outcome in zip(chunk, outcomes) if outcome is not None])

        outcomes = await self.settlement.settle_many([payment for _, payment in chunk], also=mark_confirmed)
        self.counts["confirmed"] += sum(outcome is not None for outcome in outcomes)
        return [claim for (claim, _), outcome in zip(chunk, outcomes) if outcome is None]

    async def _contradicted(self, claim: Claim, claimed: CryptoInvoice, actual: CryptoInvoice | None,
                            reason: str) -> None:
        async with self.db.transaction() as conn:
            first = await claims.contradict(conn, claim, reason)
            if first:
                await enqueue_admin_alert(conn, CLAIM_CONTRADICTED, f"Crypto Pay invoice {claim.invoice_id}", {
                    "invoice_id": claim.invoice_id, "differs": reason, "claimed": _shown(claimed),
                    "crypto_pay": _shown(actual) if actual else None, "update_id": claim.update_id,
                    "action": "nothing was credited",
                })
        if first:
            self.counts["contradicted"] += 1
            self.nudger.nudge("bot")
            log.warning("webhook claim contradicted by Crypto Pay; nothing credited",
                        extra={"invoice_id": claim.invoice_id, "reason": reason})

    async def _postpone(self, batch: list[Claim], error: str) -> None:
        later = [(c, self._pause(c.attempts)) for c in batch]
        async with self.db.acquire() as conn:
            await claims.postpone(conn, later, error)
        self.counts["postponed"] += len(batch)
        log.warning("Crypto Pay did not confirm webhook claims; asking again later",
                    extra={"claims": len(batch), "error": error, "retry_in": round(min(p for _, p in later), 2)})

    def _pause(self, attempts: int) -> float:
        pause = min(self.settings.confirm_retry_base * 2 ** min(attempts, 30), self.settings.confirm_retry_max)
        return pause * (0.8 + 0.4 * random.random())


def _shown(invoice: CryptoInvoice) -> dict[str, str | None]:
    values = {name: getattr(invoice, name) for name in _SHOWN}
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items() if v is not None}
