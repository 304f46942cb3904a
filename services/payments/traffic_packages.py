"""Traffic packages (issue 12.3): which package a user may buy, and buying one with the balance.

An invoice for a package (Crypto Bot or Stars) is made by `invoices.py` and settles through the
one settlement function like any purchase; a package paid from the balance is made and given in
one transaction here: the purchase (method 'balance'), its ledger debit keyed by the purchase, and
the same crediting as a paid one (`settlement.credit`: the bytes and the activation row that
raises the panel's limit). The request_id makes a double tap one package.
"""
from __future__ import annotations

import asyncpg

from common.contract.base import RpcErrorCode
from common.contract.payments import TrafficBought, TrafficPurchase
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from common.settings.traffic import TrafficSettings
from common.shop import ledger, traffic
from services.payments.repositories import purchases
from services.payments.repositories.purchases import Purchase
from services.payments.request_checks import allowed_customer, check_request
from services.payments.settlement import CreditTerms, credit
from services.payments.traffic_rules import refused, sellable


class TrafficPackages:
    def __init__(self, db: Database, nudger: PeerNudges, settings: TrafficSettings, currency: str,
                 terms: CreditTerms) -> None:
        self.db = db
        self.nudger = nudger
        self.settings = settings
        self.currency = currency
        self.terms = terms

    async def buy_with_balance(self, request: TrafficPurchase) -> TrafficBought:
        check_request(request.user_id, request.request_id)
        async with self.db.transaction() as conn:
            await allowed_customer(conn, request.user_id)
            earlier = await purchases.by_request(conn, request.user_id, request.request_id)
            if earlier is None:
                package = await sellable(conn, self.settings, request.user_id, request.package)
                made = await purchases.insert_pending(
                    conn, user_id=request.user_id, plan_id=None, kind="traffic", method="balance",
                    amount=package.price, currency=self.currency, request_id=request.request_id, days=None,
                    traffic_limit_bytes=package.bytes, ttl_seconds=60, traffic_package=package.id)
                # None: the same request is being made by a concurrent tap, whose commit we waited for.
                earlier = await purchases.by_request(conn, request.user_id, request.request_id) if made is None else None
            if earlier is not None:
                return await self._again(conn, earlier, request)
            assert made is not None
            try:
                balance = await ledger.apply(conn, request.user_id, -made.amount, "purchase", f"purchase:{made.id}")
            except ledger.InsufficientBalance:
                raise refused("balance_short") from None   # the whole transaction, purchase too, is undone
            if balance is None or not await purchases.mark_paid_from_balance(conn, made.id):
                raise RuntimeError(f"traffic purchase {made.id} changed under its own transaction")
            settling = await purchases.lock_settling(conn, made.id)
            assert settling is not None
            await credit(conn, settling, self.terms)
            limit = await _limit(conn, request.user_id)
        self.nudger.nudge("vpn_gateway")
        return TrafficBought(purchase_id=made.id, gb=package.gb, limit_bytes=limit, balance=balance,
                             currency=self.currency)

    async def _again(self, conn: asyncpg.Connection, earlier: Purchase, request: TrafficPurchase) -> TrafficBought:
        """The answer to a request seen before (a double tap, a retry after a timeout)."""
        if (earlier.kind, earlier.method, earlier.traffic_package) != ("traffic", "balance", request.package) \
                or earlier.status != "paid":
            raise RpcError(RpcErrorCode.CONFLICT, "request_id was already used for a different purchase")
        balance = await conn.fetchval("SELECT balance FROM users WHERE id = $1", request.user_id)
        return TrafficBought(purchase_id=earlier.id, gb=(earlier.traffic_limit_bytes or 0) // 1024 ** 3,
                             limit_bytes=await _limit(conn, request.user_id), balance=balance, currency=earlier.currency)


async def _limit(conn: asyncpg.Connection, user_id: int) -> int:
    row = await conn.fetchrow(
        "SELECT traffic_limit_bytes, extra_traffic_bytes FROM subscriptions WHERE user_id = $1", user_id)
    return traffic.panel_limit(row["traffic_limit_bytes"], row["extra_traffic_bytes"]) if row else 0
