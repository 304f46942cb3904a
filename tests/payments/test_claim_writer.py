"""Claims of concurrent webhook requests share one INSERT and one commit, each request answered once
its own claim is stored; a request cancelled while waiting never stalls the others."""
from __future__ import annotations

import asyncio
import hashlib

import pytest

from common.db.database import Database, DatabaseUnavailable
from services.payments.claim_writer import ClaimWriter
from services.payments.repositories import claims
from services.payments.repositories.claims import NewClaim
from tests.support.wait import wait_for


def claim(invoice_id: int, body: str = "x") -> NewClaim:
    return NewClaim(invoice_id, hashlib.sha256(body.encode()).digest(), {"invoice_id": invoice_id}, 1, None)


@pytest.fixture
def statements(monkeypatch) -> list[int]:
    """The size of each INSERT the writer makes."""
    sizes: list[int] = []
    record_many = claims.record_many

    async def counted(conn, new):
        sizes.append(len(new))
        return await record_many(conn, new)
    monkeypatch.setattr(claims, "record_many", counted)
    return sizes


async def test_concurrent_claims_are_written_together_and_each_gets_its_own_answer(database: Database, statements):
    writer = ClaimWriter(database)
    wanted = [claim(n) for n in range(1, 201)] + [claim(7), claim(8, "other body")]
    answers = await asyncio.gather(*(writer.record(c) for c in wanted))
    assert answers[:200] == [True] * 200
    assert answers[200:] == [False, True]  # a second copy of a claim is not new; another body is
    assert sum(statements) == len(wanted) and len(statements) <= 4
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payment_claims") == 201
    assert await writer.record(claim(1)) is False and statements[-1] == 1  # alone: written alone, at once


async def test_a_waiting_request_cancelled_does_not_stall_the_next(database: Database, statements):
    writer = ClaimWriter(database)
    blocker = await database.pool.acquire()
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE payment_claims IN SHARE MODE")  # the first INSERT waits here
    try:
        first = asyncio.create_task(writer.record(claim(1)))
        waiting = [asyncio.create_task(writer.record(claim(n))) for n in (2, 3, 4)]
        await wait_for(lambda: statements, message="the first INSERT under way")
        waiting[0].cancel()
        await transaction.rollback()
        assert await first is True
        assert await asyncio.gather(*waiting[1:]) == [True, True]
        assert waiting[0].cancelled()
    finally:
        await database.pool.release(blocker)
    assert await writer.record(claim(5)) is True


async def test_a_database_that_fails_fails_every_request_of_the_batch(database: Database, monkeypatch):
    writer = ClaimWriter(database)

    async def broken(conn, new):
        raise DatabaseUnavailable("connection lost")
    monkeypatch.setattr(claims, "record_many", broken)
    results = await asyncio.gather(*(writer.record(claim(n)) for n in range(1, 6)), return_exceptions=True)
    assert all(isinstance(r, DatabaseUnavailable) for r in results)
    monkeypatch.undo()
    assert await writer.record(claim(9)) is True  # the pen was handed back
