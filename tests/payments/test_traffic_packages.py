"""Traffic packages on the money path (issue 12.3): the arithmetic of the panel's limit, the
settings' validation, buying with the balance, a Crypto Bot invoice and Stars, exactly once under
double taps and duplicate reports, refusals that change nothing, and the carry-over at renewal."""
from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from common.contract.payments import CreateInvoice, PurchaseRef, StarsPaid, TrafficPurchase, traffic_refusal
from common.contract.vpn_gateway import LASTING_TRAFFIC_LIMIT
from common.ipc.errors import RpcError
from common.settings.base import ConfigError
from common.settings.traffic import TrafficSettings
from common.shop.access import grant_days
from common.shop.traffic import panel_limit
from services.vpn_gateway.panels.marzban import MarzbanBackend
from services.vpn_gateway.panels.outline import OutlineBackend
from services.vpn_gateway.panels.remnawave import RemnawaveBackend
from services.vpn_gateway.panels.xui import XuiBackend
from services.vpn_gateway.repositories import accounts as gateway_accounts
from tests.payments.conftest import Harness, start_harness, stop_harness
from tests.payments.stars_bot import pay, send_invoice
from tests.support.wait import wait_for

GB = 1024 ** 3
PACKAGES = '[{"id": "10gb", "gb": 10, "price": "2.50", "stars": 120}, {"id": "50gb", "gb": 50, "price": "9.00", "stars": 450}]'


# ---- the arithmetic and the settings -------------------------------------------------------------

def test_the_panel_limit_is_allowance_plus_packages_and_unlimited_stays_unlimited():
    assert panel_limit(100 * GB, 0) == 100 * GB
    assert panel_limit(100 * GB, 60 * GB) == 160 * GB
    assert panel_limit(0, 60 * GB) == 0                  # an unlimited plan is not capped by a package
    assert panel_limit(100 * GB, -5) == 100 * GB         # never below the allowance


@pytest.mark.parametrize("value, words", [
    ("nonsense", "expected a JSON list"),
    ('{"id": "x"}', "expected a JSON list"),
    ('[{"id": "10gb", "gb": 10, "price": "2.505", "stars": 1}]', "whole number of cents"),
    ('[{"id": "10gb", "gb": 1000000000, "price": "2", "stars": 1}]', "less than or equal to 100000"),
    ('[{"id": "10gb", "gb": 0, "price": "2", "stars": 1}]', "greater than or equal to 1"),
    ('[{"id": "10GB!", "gb": 1, "price": "2", "stars": 1}]', "a package id is"),
    ('[{"id": "a", "gb": 1, "price": "2", "stars": 1}, {"id": "a", "gb": 2, "price": "3", "stars": 2}]', "distinct"),
    ('[{"id": "a", "gb": 1, "price": "2", "stars": 1, "extra": 1}]', "Extra inputs"),
])
def test_a_malformed_package_list_is_one_line_naming_the_variable(monkeypatch, value: str, words: str):
    monkeypatch.setenv("ATCS_TRAFFIC_PACKAGES", value)
    with pytest.raises(ConfigError) as caught:
        TrafficSettings.read()
    message = str(caught.value)
    assert message.startswith("ATCS_TRAFFIC_PACKAGES is invalid") and words in message and "\n" not in message


def test_packages_parse_and_empty_offers_none(monkeypatch):
    monkeypatch.setenv("ATCS_TRAFFIC_PACKAGES", PACKAGES)
    packages = TrafficSettings.read()
    assert [(p.id, p.gb, p.price, p.stars, p.bytes) for p in packages.traffic_packages] == [
        ("10gb", 10, Decimal("2.50"), 120, 10 * GB), ("50gb", 50, Decimal("9.00"), 450, 50 * GB)]
    assert packages.package("nope") is None
    monkeypatch.setenv("ATCS_TRAFFIC_PACKAGES", "")
    assert TrafficSettings.read().traffic_packages == ()


def test_the_contract_names_exactly_the_backends_whose_limit_lasts():
    backends = (OutlineBackend, RemnawaveBackend, MarzbanBackend, XuiBackend)
    lasting = {backend.kind for backend in backends if backend.capabilities.lasting_traffic_limit}
    assert lasting == set(LASTING_TRAFFIC_LIMIT) == {"remnawave", "marzban", "3x-ui"}


# ---- on the money path ---------------------------------------------------------------------------

@pytest.fixture
async def shop(database_url, database, cryptopay, telegram, monkeypatch):
    monkeypatch.setenv("ATCS_TRAFFIC_PACKAGES", PACKAGES)
    harness, workers = await start_harness(database_url, database, cryptopay, telegram)
    yield harness
    await stop_harness(harness, workers)


async def subscriber(shop: Harness, *, balance: str = "0", allowance_gb: int = 100, backend: str = "remnawave") -> int:
    """A user on a 30-day plan with a traffic limit, their account on a panel of `backend`."""
    user_id = await shop.user(balance=balance)
    async with shop.db.transaction() as conn:
        await grant_days(conn, user_id, 30, key=f"setup:{user_id}", traffic_limit_bytes=allowance_gb * GB, plan_id=1)
        await conn.execute(
            """INSERT INTO vpn_accounts (user_id, server, backend, external_id, panel_id, access_key)
               VALUES ($1, 's1', $2, $3, $4, 'vless://secret')""", user_id, backend, f"atcs-{user_id}", f"p{user_id}")
    return user_id


async def buy(shop: Harness, user_id: int, package: str = "10gb", request_id: str | None = None):
    return await shop.app.traffic_packages.buy_with_balance(
        TrafficPurchase(user_id=user_id, package=package, request_id=request_id or uuid.uuid4().hex))


async def extra(shop: Harness, user_id: int) -> int:
    return await shop.fetchval("SELECT extra_traffic_bytes FROM subscriptions WHERE user_id = $1", user_id)


async def limit_activations(shop: Harness, user_id: int) -> int:
    return await shop.fetchval(
        "SELECT count(*) FROM activations WHERE user_id = $1 AND action = 'set_limit'", user_id)


async def refusal_of(call) -> str | None:
    try:
        await call
    except RpcError as exc:
        return traffic_refusal(exc.message) if exc.code == "conflict" else f"{exc.code}: {exc.message}"
    raise AssertionError("it was not refused")


async def test_the_balance_buys_a_package_at_once(shop: Harness):
    user_id = await subscriber(shop, balance="10.00")
    bought = await buy(shop, user_id)
    assert (bought.gb, bought.limit_bytes, bought.balance, bought.currency) == (10, 110 * GB, Decimal("7.50"), "USD")
    assert await extra(shop, user_id) == 10 * GB
    assert await limit_activations(shop, user_id) == 1
    ledger = await shop.fetch("SELECT amount, kind FROM balance_ledger WHERE user_id = $1", user_id)
    assert [(r["amount"], r["kind"]) for r in ledger] == [(Decimal("-2.50"), "purchase")]
    purchase = (await shop.fetch("SELECT kind, method, status, traffic_package FROM purchases WHERE user_id = $1",
                                 user_id))[0]
    assert tuple(purchase) == ("traffic", "balance", "paid", "10gb")


async def test_twenty_taps_of_one_button_buy_one_package(shop: Harness):
    user_id = await subscriber(shop, balance="100.00")
    outcomes = await asyncio.gather(*(buy(shop, user_id, request_id="traffic:tap") for _ in range(20)))
    assert {o.purchase_id for o in outcomes} == {outcomes[0].purchase_id}
    assert await extra(shop, user_id) == 10 * GB
    assert await limit_activations(shop, user_id) == 1
    assert await shop.fetchval("SELECT balance FROM users WHERE id = $1", user_id) == Decimal("97.50")
    assert await shop.fetchval("SELECT count(*) FROM balance_ledger WHERE user_id = $1", user_id) == 1


async def test_refusals_change_nothing(shop: Harness):
    poor = await subscriber(shop, balance="1.00")
    assert await refusal_of(buy(shop, poor)) == "balance_short"
    rich = await subscriber(shop, balance="50.00")
    assert await refusal_of(buy(shop, rich, package="nope")) == "unknown_package"
    assert await refusal_of(buy(shop, rich, package="x" * 5000)) == "unknown_package"
    unlimited = await subscriber(shop, balance="50.00", allowance_gb=0)
    assert await refusal_of(buy(shop, unlimited)) == "not_eligible"
    on_outline = await subscriber(shop, balance="50.00", backend="outline")
    assert await refusal_of(buy(shop, on_outline)) == "not_eligible"
    nobody = await shop.user(balance="50.00")
    assert await refusal_of(buy(shop, nobody)) == "not_eligible"
    assert (await refusal_of(buy(shop, 2**70))).startswith("not_found")
    assert (await refusal_of(shop.app.traffic_packages.buy_with_balance(
        TrafficPurchase(user_id=rich, package="10gb", request_id="")))).startswith("bad_request")
    for user_id in (poor, rich, unlimited, on_outline):
        assert await extra(shop, user_id) == 0
    counts = await shop.counts()
    assert (counts["ledger_rows"], counts["paid"]) == (0, 0)
    assert await shop.fetchval("SELECT count(*) FROM activations WHERE action = 'set_limit'") == 0
    assert await shop.fetchval("SELECT count(*) FROM purchases") == 0
    assert await shop.fetchval("SELECT sum(balance) FROM users") == Decimal("201.00")


async def test_a_crypto_bot_package_is_credited_once_however_often_it_is_reported(shop: Harness):
    user_id = await subscriber(shop)
    invoice = await shop.app.invoicing.create(CreateInvoice(
        user_id=user_id, method="cryptobot", traffic_package="50gb", request_id=uuid.uuid4().hex))
    assert (invoice.amount, invoice.currency) == (Decimal("9.00"), "USD")
    # Every webhook delivered three times at once, then two reconciliation passes report it again.
    shop.cryptopay.set_delivery(mode="duplicate", copies=3)
    await shop.cryptopay.pay(await shop.provider_invoice_id(invoice.purchase_id))
    assert await shop.cryptopay.wait_for_deliveries(3, timeout=10)

    async def paid() -> bool:
        return await shop.status(invoice.purchase_id) == "paid"
    await wait_for(paid, timeout=10, message="the package settled")
    await shop.app.reconcile_once()
    await shop.app.reconcile_once()
    assert await shop.status(invoice.purchase_id) == "paid"
    assert await extra(shop, user_id) == 50 * GB
    assert await limit_activations(shop, user_id) == 1
    told = await shop.fetch("SELECT kind, params FROM notifications WHERE user_id = $1", user_id)
    assert [r["kind"] for r in told] == ["traffic_added"]
    assert '"limit_bytes": 161061273600' in told[0]["params"]  # 150 GB
    assert await shop.fetchval("SELECT count(*) FROM balance_ledger") == 0


async def test_a_stars_package_with_a_duplicate_successful_payment_is_credited_once(shop: Harness):
    user_id = await subscriber(shop)
    invoice = await shop.app.invoicing.create(CreateInvoice(
        user_id=user_id, method="stars", traffic_package="10gb", request_id=uuid.uuid4().hex))
    assert (invoice.amount, invoice.currency) == (Decimal("120"), "XTR")
    assert "10 GB" in (invoice.title or "")
    await send_invoice(shop.telegram, user_id, invoice)
    result = await pay(shop.telegram, shop.app, user_id)
    assert result["settlement"].status == "settled"
    again = await shop.app.stars.paid(StarsPaid(      # the same update handed over twice
        user_id=user_id, payload=invoice.stars_payload, currency="XTR", total_amount=120,
        telegram_payment_charge_id=result["charge_id"]))
    assert again.status == "duplicate"
    await shop.app.stars.reconcile()
    assert await extra(shop, user_id) == 10 * GB
    assert await limit_activations(shop, user_id) == 1


async def test_an_invoice_for_a_package_is_refused_with_nothing_made(shop: Harness):
    unlimited = await subscriber(shop, allowance_gb=0)
    for package, user_id, expected in (("nope", unlimited, "unknown_package"), ("10gb", unlimited, "not_eligible")):
        refusal = await refusal_of(shop.app.invoicing.create(CreateInvoice(
            user_id=user_id, method="cryptobot", traffic_package=package, request_id=uuid.uuid4().hex)))
        assert refusal == expected
    both = await refusal_of(shop.app.invoicing.create(CreateInvoice(
        user_id=unlimited, method="cryptobot", plan_id=1, traffic_package="10gb", request_id="x")))
    assert both.startswith("bad_request")
    assert await shop.fetchval("SELECT count(*) FROM purchases") == 0


async def test_bought_traffic_survives_a_renewal_and_a_refund_takes_it_back(shop: Harness):
    user_id = await subscriber(shop, balance="20.00")
    await buy(shop, user_id, "10gb")
    async with shop.db.transaction() as conn:
        # A renewal sets the plan's allowance again (here a plan of 100 GB): the package stays on top.
        await grant_days(conn, user_id, 30, key=f"renewal:{user_id}", traffic_limit_bytes=100 * GB, plan_id=1)
        sub = await gateway_accounts.get_subscription(conn, user_id)
    assert sub is not None and sub.panel_limit == 110 * GB     # what vpn_gateway will put on the panel
    invoice = await shop.app.invoicing.create(CreateInvoice(
        user_id=user_id, method="cryptobot", traffic_package="50gb", request_id=uuid.uuid4().hex))
    await shop.cryptopay.pay(await shop.provider_invoice_id(invoice.purchase_id))
    await shop.app.reconcile_once()
    assert await extra(shop, user_id) == 60 * GB
    state = await shop.app.refunds.refund(PurchaseRef(purchase_id=invoice.purchase_id, admin_id=1))
    assert state.status == "refunded"
    assert await extra(shop, user_id) == 10 * GB
    assert await shop.fetchval("SELECT balance FROM users WHERE id = $1", user_id) == Decimal("26.50")
    assert await limit_activations(shop, user_id) == 3   # bought, bought, refunded: each one row
