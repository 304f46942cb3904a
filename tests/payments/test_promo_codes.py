"""Promo codes on the money path (issue 12.1): the Crypto Pay and Stars invoices carry the
discount; a use is held by a pending invoice, spent exactly once when its payment settles, given
back when the invoice is abandoned; races for the last use have one winner; a plan a code makes
free is given through the same crediting, exactly once."""
from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from common.contract.payments import CreateInvoice, FreePlanClaim, StarsPaid, promo_refusal
from common.ipc.errors import RpcError
from tests.payments.conftest import MONTH, QUARTER, Harness
from tests.payments.promo_support import make_code
from tests.payments.stars_bot import pay, send_invoice


async def buy(payments: Harness, user: int, code: str | None, *, method: str = "cryptobot", plan: int = MONTH,
              gift: bool = False):
    return await payments.app.invoicing.create(CreateInvoice(
        user_id=user, method=method, plan_id=plan, promo_code=code, gift=gift, request_id=uuid.uuid4().hex))


async def refusal_of(call) -> str | None:
    try:
        await call
    except RpcError as exc:
        return promo_refusal(exc.message) if exc.code == "conflict" else f"{exc.code}: {exc.message}"
    return None


async def pay_crypto(payments: Harness, purchase_id: int) -> None:
    await payments.cryptopay.pay(await payments.provider_invoice_id(purchase_id))


async def settled(payments: Harness, purchase_id: int) -> None:
    await payments.app.reconcile_once()   # the webhook may be on its way; reconciliation is certain
    assert await payments.status(purchase_id) == "paid"


async def test_both_invoices_carry_the_discount_and_settling_spends_one_use(payments: Harness):
    code_id = await make_code(payments, "SPRING20", "percent", "20")
    user = await payments.user()
    crypto = await buy(payments, user, "spring20")        # typed in lower case: codes are not case-sensitive
    assert (crypto.amount, crypto.currency) == (Decimal("2.40"), "USD")
    provider = [i for i in payments.cryptopay.invoices()
                if i["invoice_id"] == await payments.provider_invoice_id(crypto.purchase_id)][0]
    assert Decimal(provider["amount"]) == Decimal("2.40") and "SPRING20" in provider["description"]
    stars = await buy(payments, user, "SPRING20", method="stars", plan=QUARTER)
    assert (stars.amount, stars.currency) == (Decimal(320), "XTR")     # 400 Stars, 20 % off
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 0    # held, not spent

    await pay_crypto(payments, crypto.purchase_id)
    await settled(payments, crypto.purchase_id)
    row = await payments.fetch("SELECT amount, list_amount, promo_code_id FROM purchases WHERE id = $1",
                               crypto.purchase_id)
    assert tuple(row[0]) == (Decimal("2.40"), Decimal("3.00"), code_id)
    assert await payments.fetchval("SELECT count(*) FROM promo_uses WHERE code_id = $1", code_id) == 1

    # The same user's Stars invoice held the code too; once per user, so paying it is flagged, not credited.
    await send_invoice(payments.telegram, user, stars)
    result = await pay(payments.telegram, payments.app, user)
    assert result["settlement"].status == "flagged"
    assert await payments.status(stars.purchase_id) == "flagged"
    assert await payments.fetchval("SELECT count(*) FROM promo_uses WHERE code_id = $1", code_id) == 1
    assert await payments.fetchval("SELECT count(*) FROM activations WHERE user_id = $1", user) == 1
    assert await payments.fetchval("SELECT kind FROM admin_alerts") == "payment_flagged"


async def test_twenty_buyers_race_for_a_one_use_code_and_one_gets_it(payments: Harness):
    await make_code(payments, "ONLYONE", "amount", "1.00", max_uses=1)
    users = [await payments.user() for _ in range(20)]
    outcomes = await asyncio.gather(*(buy(payments, u, "ONLYONE") for u in users), return_exceptions=True)
    invoices = [o for o in outcomes if not isinstance(o, BaseException)]
    refusals = [promo_refusal(o.message) for o in outcomes if isinstance(o, RpcError)]
    assert len(invoices) == 1 and refusals == ["used_up"] * 19
    assert invoices[0].amount == Decimal("2.00")
    # Each refused buyer's purchase was rolled back with its refusal: nothing pending, nothing held.
    assert await payments.fetchval("SELECT count(*) FROM purchases") == 1
    await pay_crypto(payments, invoices[0].purchase_id)
    await settled(payments, invoices[0].purchase_id)
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 1


async def test_two_settlements_of_one_users_once_per_user_code_race_and_one_wins(payments: Harness):
    """20 invoices of one user with a once-per-user code (a user may ask again, e.g. another
    method), all paid at once: exactly one settles at the discount, the other 19 are flagged."""
    await make_code(payments, "ONCEEACH", "percent", "50")
    user = await payments.user()
    invoices = [await buy(payments, user, "ONCEEACH") for _ in range(20)]
    assert {i.amount for i in invoices} == {Decimal("1.50")}
    payments.cryptopay.set_delivery(mode="duplicate", copies=2)
    await asyncio.gather(*(pay_crypto(payments, i.purchase_id) for i in invoices))
    await payments.app.reconcile_once()
    statuses = [await payments.status(i.purchase_id) for i in invoices]
    assert sorted(statuses) == ["flagged"] * 19 + ["paid"]
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 1
    assert await payments.fetchval("SELECT count(*) FROM activations") == 1
    assert await payments.fetchval("SELECT count(*) FROM payment_events WHERE outcome = 'settled'") == 1


async def test_an_abandoned_invoice_gives_its_use_back(payments: Harness):
    await make_code(payments, "LASTONE", max_uses=1)
    first, second = await payments.user(), await payments.user()
    abandoned = await buy(payments, first, "LASTONE")
    assert await refusal_of(buy(payments, second, "LASTONE")) == "used_up"

    payments.cryptopay.advance_time(payments.app.settings.cryptopay.cryptopay_invoice_ttl + 1)
    await payments.app.reconcile_once()
    assert await payments.status(abandoned.purchase_id) == "expired"
    taken = await buy(payments, second, "LASTONE")
    assert taken.amount == Decimal("2.40")
    await pay_crypto(payments, taken.purchase_id)
    await settled(payments, taken.purchase_id)
    assert await payments.fetchval("SELECT user_id FROM promo_uses") == second


async def test_a_late_payment_of_a_given_back_hold_is_flagged_when_the_use_is_gone(payments: Harness):
    await make_code(payments, "LATEONE", max_uses=1)
    first, second = await payments.user(), await payments.user()
    late = await buy(payments, first, "LATEONE", method="stars")
    await payments.fetchval("UPDATE purchases SET expires_at = now() - interval '1 minute' WHERE id = $1",
                            late.purchase_id)
    await payments.app.reconcile_once()
    assert await payments.status(late.purchase_id) == "expired"        # its hold is given back
    other = await buy(payments, second, "LATEONE")                      # and taken by someone else
    await pay_crypto(payments, other.purchase_id)
    await settled(payments, other.purchase_id)

    # Telegram reports a Stars payment of the expired invoice after all (approved in its last second).
    outcome = await payments.app.stars.paid(StarsPaid(
        user_id=first, payload=late.stars_payload, currency="XTR", total_amount=int(late.amount),
        telegram_payment_charge_id="late-charge-1"))
    assert outcome.status == "flagged"
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 1
    assert "used_up" in await payments.fetchval("SELECT flag_reason FROM purchases WHERE id = $1", late.purchase_id)


async def test_a_late_payment_settles_when_the_use_is_still_there(payments: Harness):
    await make_code(payments, "STILLFREE", max_uses=1)
    user = await payments.user()
    late = await buy(payments, user, "STILLFREE", method="stars")
    await payments.fetchval("UPDATE purchases SET expires_at = now() - interval '1 minute' WHERE id = $1",
                            late.purchase_id)
    await payments.app.reconcile_once()
    outcome = await payments.app.stars.paid(StarsPaid(
        user_id=user, payload=late.stars_payload, currency="XTR", total_amount=120,
        telegram_payment_charge_id="late-charge-2"))
    assert outcome.status == "settled"
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 1


@pytest.mark.parametrize(("setup", "expected"), [
    ({"code": "GONE", "disabled": True}, "disabled"),
    ({"code": "LATER", "valid_from": "1 day"}, "not_yet"),
    ({"code": "OLD", "valid_from": "-2 days", "valid_until": "-1 day"}, "expired"),
    ({"code": "QUARTERONLY", "plans": [QUARTER]}, "not_applicable"),
])
async def test_a_code_that_does_not_apply_is_refused_with_its_reason(payments: Harness, setup, expected):
    await make_code(payments, **setup)
    user = await payments.user()
    assert await refusal_of(buy(payments, user, setup["code"])) == expected
    assert await payments.fetchval("SELECT count(*) FROM purchases") == 0


async def test_unknown_and_malformed_codes_and_first_purchase_only(payments: Harness):
    user = await payments.user()
    for typed in ("NOSUCH", "x", "DROP TABLE;", "É" * 5, "A" * 33):
        assert await refusal_of(buy(payments, user, typed)) == "unknown", typed
    await make_code(payments, "WELCOME", first_purchase_only=True)
    first = await buy(payments, user, None)
    await pay_crypto(payments, first.purchase_id)
    await settled(payments, first.purchase_id)
    assert await refusal_of(buy(payments, user, "WELCOME")) == "first_purchase_only"
    newcomer = await payments.user()
    assert (await buy(payments, newcomer, "WELCOME")).amount == Decimal("2.40")


async def test_bonus_days_lengthen_the_plan_at_its_price(payments: Harness):
    await make_code(payments, "PLUS7", "days", "7")
    user = await payments.user()
    invoice = await buy(payments, user, "PLUS7")
    assert invoice.amount == Decimal("3.00")
    await pay_crypto(payments, invoice.purchase_id)
    await settled(payments, invoice.purchase_id)
    assert await payments.fetchval("SELECT days FROM purchases WHERE id = $1", invoice.purchase_id) == 37
    left = await payments.fetchval(
        "SELECT extract(epoch FROM expires_at - now()) / 86400 FROM subscriptions WHERE user_id = $1", user)
    assert 36.9 < float(left) <= 37


async def test_a_free_plan_is_given_once_to_one_of_twenty_claimants(payments: Harness):
    await make_code(payments, "FREEMONTH", "free_plan", "0", plans=[MONTH], max_uses=1)
    referrer = await payments.user()
    users = [await payments.user(referred_by=referrer) for _ in range(20)]
    outcomes = await asyncio.gather(*(payments.app.free_plans.claim(FreePlanClaim(
        user_id=u, plan_id=MONTH, promo_code="FREEMONTH", request_id=f"free:{u}")) for u in users),
        return_exceptions=True)
    given = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(given) == 1 and given[0].days == 30
    assert sorted(promo_refusal(o.message) for o in outcomes if isinstance(o, RpcError)) == ["used_up"] * 19
    winner = await payments.fetchval("SELECT user_id FROM purchases WHERE status = 'paid'")
    assert await payments.fetchval(
        "SELECT (method, amount, settled_via) = ('promo', 0, 'promo') FROM purchases WHERE user_id = $1", winner)
    assert await payments.fetchval("SELECT count(*) FROM activations") == 1
    assert await payments.fetchval("SELECT count(*) FROM referral_bonuses") == 0   # a free plan earns no bonus

    # The winner's retry (a timed-out RPC) returns the same grant; nothing is given twice.
    again = await payments.app.free_plans.claim(FreePlanClaim(
        user_id=winner, plan_id=MONTH, promo_code="FREEMONTH", request_id=f"free:{winner}"))
    assert again.purchase_id == given[0].purchase_id
    assert await payments.fetchval("SELECT count(*) FROM promo_uses") == 1
    # Paying for a plan the code makes free is refused: there is nothing to invoice.
    assert (await refusal_of(buy(payments, winner, "FREEMONTH"))).startswith("bad_request")
    assert await refusal_of(buy(payments, winner, "FREEMONTH", plan=QUARTER)) == "not_applicable"


async def test_a_discount_never_doubles_a_referral_bonus_or_a_refund(payments: Harness):
    await make_code(payments, "HALF", "percent", "50")
    referrer = await payments.user()
    user = await payments.user(referred_by=referrer)
    invoice = await buy(payments, user, "HALF")
    await pay_crypto(payments, invoice.purchase_id)
    await settled(payments, invoice.purchase_id)
    assert await payments.fetchval("SELECT days FROM referral_bonuses WHERE invitee_id = $1", user) == 7
    from common.contract.payments import PurchaseRef
    await payments.app.refunds.refund(PurchaseRef(purchase_id=invoice.purchase_id, admin_id=1))
    # What was paid comes back (1.50), not the list price.
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("1.50")
    assert await payments.fetchval(
        "SELECT count(*) FROM users u WHERE u.balance <> coalesce((SELECT sum(amount) FROM balance_ledger l "
        "WHERE l.user_id = u.id), 0)") == 0


async def test_a_failed_invoice_gives_its_use_back_and_try_again_judges_the_code_anew(payments: Harness):
    await make_code(payments, "RETRYONE", max_uses=1)
    first, second = await payments.user(), await payments.user()
    request = CreateInvoice(user_id=first, method="cryptobot", plan_id=MONTH, promo_code="RETRYONE",
                            request_id="retry-1")
    payments.cryptopay.add_fault(route="createInvoice", kind="error", status=503, times=1)
    assert (await refusal_of(payments.app.invoicing.create(request))).startswith("unavailable")
    assert await payments.fetchval("SELECT status FROM purchases WHERE user_id = $1", first) == "failed"
    # The failed purchase holds nothing: the last use goes to someone else...
    taken = await buy(payments, second, "RETRYONE")
    # ...and "try again" (the same request) is told so, instead of an invoice at a price it no longer has.
    assert await refusal_of(payments.app.invoicing.create(request)) == "used_up"
    assert await payments.fetchval("SELECT status FROM purchases WHERE user_id = $1", first) == "failed"
    await pay_crypto(payments, taken.purchase_id)
    await settled(payments, taken.purchase_id)
    assert await payments.fetchval("SELECT user_id FROM promo_uses") == second
