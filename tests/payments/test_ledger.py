"""The balance ledger: append-only rows, each applied once, and a balance that never goes negative."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from common.contract.base import RpcErrorCode
from common.contract.payments import PurchaseRef
from common.ipc.errors import RpcError
from common.shop import ledger
from tests.payments.conftest import Harness
from tests.support.wait import wait_for


async def apply(payments: Harness, user: int, amount: str, kind: str, reference: str):
    async with payments.db.transaction() as conn:
        return await ledger.apply(conn, user, Decimal(amount), kind, reference)


async def test_a_row_is_applied_once(payments: Harness):
    user = await payments.user()
    assert await apply(payments, user, "10.00", "admin", "gift:1") == Decimal("10.00")
    assert await apply(payments, user, "10.00", "admin", "gift:1") is None
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("10.00")


async def test_a_debit_beyond_the_balance_writes_nothing(payments: Harness):
    user = await payments.user(balance="5")
    with pytest.raises(ledger.InsufficientBalance):
        await apply(payments, user, "-5.01", "renewal", "renew:1")
    assert await payments.fetchval("SELECT count(*) FROM balance_ledger") == 0
    assert await apply(payments, user, "-5.00", "renewal", "renew:1") == Decimal("0.00")


@pytest.mark.parametrize("amount", ["0", "0.001", "NaN"])
async def test_amounts_that_are_not_whole_cents_are_refused(payments: Harness, amount: str):
    user = await payments.user()
    with pytest.raises(ValueError):
        await apply(payments, user, amount, "admin", "x")


async def test_concurrent_debits_never_overdraw(payments: Harness):
    user = await payments.user(balance="10")

    async def debit(i: int) -> bool:
        try:
            await apply(payments, user, "-3.00", "renewal", f"renew:{i}")
            return True
        except ledger.InsufficientBalance:
            return False

    results = await asyncio.gather(*(debit(i) for i in range(10)))
    assert sum(results) == 3
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("1.00")
    assert await payments.fetchval("SELECT sum(amount) FROM balance_ledger") == Decimal("-9.00")


async def test_the_database_itself_refuses_a_negative_balance(payments: Harness):
    user = await payments.user()
    with pytest.raises(asyncpg.CheckViolationError):
        await payments.fetchval("UPDATE users SET balance = -1 WHERE id = $1", user)


async def paid_cryptobot(payments: Harness, user: int, **kwargs) -> int:
    invoice = await payments.invoice(user, **kwargs)
    await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))

    async def paid() -> bool:
        return await payments.status(invoice.purchase_id) == "paid"
    await wait_for(paid, message="paid")
    return invoice.purchase_id


async def test_refunding_a_crypto_bot_plan_credits_the_balance_and_revokes_the_days(payments: Harness):
    user = await payments.user()
    purchase = await paid_cryptobot(payments, user)
    assert (await payments.app.refunds.refund(PurchaseRef(purchase_id=purchase))).status == "refunded"
    assert (await payments.app.refunds.refund(PurchaseRef(purchase_id=purchase))).status == "refunded"
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("3.00")
    [row] = await payments.fetch("SELECT amount, kind, reference FROM balance_ledger")
    assert tuple(row) == (Decimal("3.00"), "refund", f"purchase:{purchase}")
    assert await payments.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", user) == "revoked"


async def test_refunding_a_top_up_takes_it_back_unless_it_was_spent(payments: Harness):
    user = await payments.user()
    first = await paid_cryptobot(payments, user, topup="10")
    second = await paid_cryptobot(payments, user, topup="4")
    await payments.app.refunds.refund(PurchaseRef(purchase_id=first))
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("4.00")
    await apply(payments, user, "-1.00", "renewal", "renew:1")
    with pytest.raises(RpcError) as refused:
        await payments.app.refunds.refund(PurchaseRef(purchase_id=second))
    assert refused.value.code == RpcErrorCode.CONFLICT
    assert await payments.status(second) == "paid"
    assert await payments.fetchval("SELECT balance FROM users WHERE id = $1", user) == Decimal("3.00")
    assert await payments.fetchval("SELECT sum(amount) FROM balance_ledger WHERE user_id = $1", user) == Decimal("3.00")


async def test_only_paid_purchases_can_be_refunded(payments: Harness):
    user = await payments.user()
    invoice = await payments.invoice(user)
    with pytest.raises(RpcError) as refused:
        await payments.app.refunds.refund(PurchaseRef(purchase_id=invoice.purchase_id))
    assert refused.value.code == RpcErrorCode.CONFLICT


async def test_ledger_rows_cannot_be_edited_or_deleted(payments: Harness):
    user = await payments.user()
    await apply(payments, user, "10.00", "admin", "gift:1")
    for statement in ("UPDATE balance_ledger SET amount = 99", "DELETE FROM balance_ledger"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await payments.fetchval(statement)
    assert await payments.fetchval("SELECT amount FROM balance_ledger") == Decimal("10.00")
