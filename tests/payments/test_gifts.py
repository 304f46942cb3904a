"""Gift purchases on the money path (issue 12.2): a paid gift makes one link and gives the buyer
no days; twenty people opening the link at once, one gets the days; an admin's refund of an
unredeemed gift goes to the giver's balance and kills the link; a redeemed one is not refunded."""
from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import asyncpg

from common.contract.payments import CreateInvoice, PurchaseRef
from common.ipc.errors import RpcError
from services.bot.repositories import gifts
from services.bot.repositories.gifts import GiftRefusal, Redeemed
from tests.payments.conftest import MONTH, Harness, start_harness, stop_harness
from tests.payments.promo_support import make_code
from tests.payments.stars_bot import pay, send_invoice


async def paid_gift(payments: Harness, giver: int, code: str | None = None) -> tuple[int, str]:
    invoice = await payments.app.invoicing.create(CreateInvoice(
        user_id=giver, method="cryptobot", plan_id=MONTH, gift=True, promo_code=code, request_id=uuid.uuid4().hex))
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
    await payments.app.reconcile_once()
    assert await payments.status(invoice.purchase_id) == "paid"
    return invoice.purchase_id, await payments.fetchval("SELECT token FROM gifts WHERE purchase_id = $1",
                                                        invoice.purchase_id)


async def redeem(url: str, token: str, user_id: int) -> Redeemed | GiftRefusal:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            return await gifts.redeem(conn, token, user_id, f"user {user_id}")
    finally:
        await conn.close()


async def test_a_paid_gift_makes_a_link_and_gives_the_buyer_nothing(payments: Harness):
    await make_code(payments, "GIFT10", "percent", "10")
    giver = await payments.user()
    purchase_id, token = await paid_gift(payments, giver, "GIFT10")
    assert len(token) >= 22
    assert await payments.fetchval("SELECT amount FROM purchases WHERE id = $1", purchase_id) == Decimal("2.70")
    assert await payments.fetchval("SELECT count(*) FROM subscriptions") == 0
    assert await payments.fetchval("SELECT count(*) FROM activations") == 0
    notice = (await payments.fetch("SELECT user_id, kind, params FROM notifications"))[0]
    assert (notice["user_id"], notice["kind"]) == (giver, "gift_ready") and token in notice["params"]


async def test_twenty_people_open_one_link_and_one_gets_it(payments: Harness):
    giver = await payments.user()
    _, token = await paid_gift(payments, giver)
    people = [await payments.user() for _ in range(20)]
    outcomes = await asyncio.gather(*(redeem(payments.url, token, p) for p in people + [giver]))
    winners = [o for o in outcomes if isinstance(o, Redeemed)]
    assert len(winners) == 1 and winners[0].days == 30
    assert [o for o in outcomes[:-1] if isinstance(o, GiftRefusal)] == ["redeemed"] * 19
    assert outcomes[-1] in (GiftRefusal.OWN, GiftRefusal.REDEEMED)      # the giver: before or after the winner
    assert await payments.fetchval("SELECT count(*) FROM subscriptions") == 1
    assert await payments.fetchval("SELECT count(*) FROM activations") == 1
    told = await payments.fetch("SELECT user_id FROM notifications WHERE kind = 'gift_redeemed'")
    assert [r["user_id"] for r in told] == [giver]


async def test_own_unknown_and_foreign_links_are_refused(payments: Harness):
    giver = await payments.user()
    _, token = await paid_gift(payments, giver)
    assert await redeem(payments.url, token, giver) == GiftRefusal.OWN
    # Another bot's token has the same shape but was never made here; a forged one has another.
    assert await redeem(payments.url, "A" * 22, giver) == GiftRefusal.UNKNOWN
    assert await redeem(payments.url, "../../etc", giver) == GiftRefusal.UNKNOWN
    await payments.fetchval("UPDATE gifts SET valid_until = now() - interval '1 second'")
    assert await redeem(payments.url, token, await payments.user()) == GiftRefusal.EXPIRED
    assert await payments.fetchval("SELECT count(*) FROM subscriptions") == 0


async def test_an_admin_refunds_an_unredeemed_gift_to_balance_but_not_a_redeemed_one(payments: Harness):
    giver = await payments.user()
    open_purchase, open_token = await paid_gift(payments, giver)
    taken_purchase, taken_token = await paid_gift(payments, giver)
    assert isinstance(await redeem(payments.url, taken_token, await payments.user()), Redeemed)

    state = await payments.app.refunds.refund(PurchaseRef(purchase_id=open_purchase, admin_id=1))
    assert state.status == "refunded"
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", giver) == Decimal("3.00")
    assert await redeem(payments.url, open_token, await payments.user()) == GiftRefusal.REFUNDED
    try:
        await payments.app.refunds.refund(PurchaseRef(purchase_id=taken_purchase, admin_id=1))
        raise AssertionError("a redeemed gift was refunded")
    except RpcError as exc:
        assert exc.code == "conflict" and "redeemed" in exc.message
    assert await payments.fetchval("SELECT status FROM purchases WHERE id = $1", taken_purchase) == "paid"
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", giver) == Decimal("3.00")


async def test_a_stars_gift_is_refunded_to_the_givers_balance_once_with_no_stars_back(payments: Harness):
    giver = await payments.user()
    invoice = await payments.app.invoicing.create(CreateInvoice(
        user_id=giver, method="stars", plan_id=MONTH, gift=True, request_id=uuid.uuid4().hex))
    await send_invoice(payments.telegram, giver, invoice)
    result = await pay(payments.telegram, payments.app, giver)
    assert result["settlement"].status == "settled"
    token = await payments.fetchval("SELECT token FROM gifts WHERE purchase_id = $1", invoice.purchase_id)

    ref = PurchaseRef(purchase_id=invoice.purchase_id, admin_id=78)
    refunds = await asyncio.gather(*(payments.app.refunds.refund(ref) for _ in range(5)))   # five taps at once
    assert {r.status for r in refunds} == {"refunded"}
    # 150 Stars of month_1 (3.00 USD for 150 Stars) are worth 3.00 USD, on the balance; no Stars go back.
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", giver) == Decimal("3.00")
    ledger = await payments.fetch("SELECT amount, kind, reference FROM balance_ledger")
    assert [tuple(r) for r in ledger] == [(Decimal("3.00"), "refund", f"purchase:{invoice.purchase_id}")]
    assert [t for t in await payments.telegram.star_transactions() if t["refund"]] == []
    assert await redeem(payments.url, token, await payments.user()) == GiftRefusal.REFUNDED
    audit = await payments.fetch("SELECT action, detail FROM admin_audit WHERE admin_id = 78")
    assert len(audit) == 1 and '"to": "balance"' in audit[0]["detail"] and '"currency": "USD"' in audit[0]["detail"]
    notice = await payments.fetchval("SELECT params FROM notifications WHERE kind = 'refunded'")
    assert '"currency": "USD"' in notice


async def test_gift_links_live_as_long_as_the_setting_says(database_url, database, cryptopay, telegram, monkeypatch):
    monkeypatch.setenv("ATCS_GIFT_VALID_DAYS", "7")
    harness, workers = await start_harness(database_url, database, cryptopay, telegram)
    try:
        _, token = await paid_gift(harness, await harness.user())
        days = await harness.fetchval(
            "SELECT round(extract(epoch FROM valid_until - created_at) / 86400) FROM gifts WHERE token = $1", token)
        assert days == 7
    finally:
        await stop_harness(harness, workers)
