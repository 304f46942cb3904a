"""A plan a promo code makes free (a free_plan code, 100 % off, or an amount off as large as the
price): no invoice, no provider; the purchase is made (method 'promo', amount 0) and given in one
transaction, through the same crediting as a paid one (`settlement.credit`): the activation row,
the code's use spent under its lock, exactly once per request_id."""
from __future__ import annotations

from decimal import Decimal

from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.contract.base import RpcErrorCode
from common.contract.payments import FreePlanClaim, FreePlanGiven
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from common.shop import plans, pricing
from common.shop.promos import Refusal
from services.payments.promo_holds import hold, named_promo, refused
from services.payments.repositories import purchases
from services.payments.request_checks import allowed_customer, check_request
from services.payments.settlement import CreditTerms, credit


class FreePlans:
    def __init__(self, db: Database, nudger: PeerNudges, cryptopay: CryptoPaySettings, settings: PaymentsSettings,
                 terms: CreditTerms) -> None:
        self.db = db
        self.nudger = nudger
        self.cp = cryptopay
        self.settings = settings
        self.terms = terms

    async def claim(self, request: FreePlanClaim) -> FreePlanGiven:
        check_request(request.user_id, request.request_id, plan_id=request.plan_id)
        async with self.db.transaction() as conn:
            await allowed_customer(conn, request.user_id)
            plan = await plans.get_active(conn, request.plan_id)
            if plan is None:
                raise RpcError(RpcErrorCode.NOT_FOUND, f"no active plan {request.plan_id}")
            promo = await named_promo(conn, request.promo_code)
            if not promo.applies_to(plan.id):
                raise refused(Refusal.NOT_APPLICABLE)
            price = pricing.quote(plan, promo.discount)
            if not price.free:
                raise RpcError(RpcErrorCode.BAD_REQUEST, f"code {promo.code} does not make this plan free")
            made = await purchases.insert_pending(
                conn, user_id=request.user_id, plan_id=plan.id, kind="subscription", method="promo",
                amount=Decimal("0.00"), currency=self.cp.shop_currency, request_id=request.request_id,
                days=price.days, traffic_limit_bytes=plan.traffic_gb * 1024**3 if plan.traffic_gb else 0,
                ttl_seconds=60, promo_code_id=promo.id, list_amount=price.list_amount)
            if made is None:
                # The same request again (a retry after a timeout): what it gave the first time.
                earlier = await purchases.by_request(conn, request.user_id, request.request_id)
                assert earlier is not None
                if earlier.method != "promo" or earlier.plan_id != plan.id or earlier.status != "paid":
                    raise RpcError(RpcErrorCode.CONFLICT, "request_id was already used for a different purchase")
                return FreePlanGiven(purchase_id=earlier.id, days=earlier.days or price.days,
                                     expires_at=await _expiry(conn, request.user_id))
            await hold(conn, promo.id, made)          # refused: everything above is rolled back
            if not await purchases.mark_given(conn, made.id):
                raise RuntimeError(f"free purchase {made.id} changed under its own transaction")
            settling = await purchases.lock_settling(conn, made.id)
            assert settling is not None
            await credit(conn, settling, self.terms)
            expires_at = await _expiry(conn, request.user_id)
        self.nudger.nudge("vpn_gateway")
        return FreePlanGiven(purchase_id=made.id, days=price.days, expires_at=expires_at)


async def _expiry(conn, user_id: int):
    return await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", user_id)
