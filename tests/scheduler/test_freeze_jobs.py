"""Paused subscriptions and the timed jobs (issue 13.4): no reminder, no auto-renewal and no
expiry while paused; the pause ends by itself at its end, giving back the time that was left;
the yearly allowance and the other refusals of common/shop/freeze.py."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common.shop.access import grant_days
from common.shop.freeze import Freeze, FreezeRefusal, freeze, unfreeze
from services.scheduler.jobs.timed import TimedJobs
from tests.scheduler.seed import add_subscription, add_user, in_days


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def test_a_paused_subscription_is_left_alone_and_resumes_at_the_end_of_the_pause(db, conn, settings) -> None:
    now = _now()
    await add_user(conn, 1, balance=Decimal("100"))
    await add_subscription(conn, 1, in_days(now, 2), auto_renew=True)       # in every job's window soon
    await add_user(conn, 2, balance=Decimal("100"))
    await add_subscription(conn, 2, in_days(now, 2), auto_renew=True)       # the same, not paused
    expires = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = 1")
    async with conn.transaction():
        frozen = await freeze(conn, 1, 5, now=now, days_per_year=30)
    assert isinstance(frozen, Freeze) and frozen.left == timedelta(days=2)
    jobs = TimedJobs(db, settings(), nudger=None)

    for day in (1, 3, 4.9):                     # reminder and renewal windows, then past the old expiry
        await jobs.run_once(now + timedelta(days=day))
    row = await conn.fetchrow("SELECT status, expires_at, frozen_at FROM subscriptions WHERE user_id = 1")
    assert row["status"] == "active" and row["expires_at"] == expires and row["frozen_at"] == now
    assert await conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = 1") == 0
    assert await conn.fetchval("SELECT count(*) FROM balance_ledger WHERE user_id = 1") == 0
    assert await conn.fetchval("SELECT count(*) FROM balance_ledger WHERE user_id = 2") == 1   # 2 was renewed

    end = now + timedelta(days=5, seconds=30)   # the first pass after the pause's end
    outcome = await jobs.run_once(end)
    assert outcome.activations >= 1
    row = await conn.fetchrow("SELECT expires_at, frozen_at, frozen_until FROM subscriptions WHERE user_id = 1")
    assert row["frozen_at"] is None and row["frozen_until"] is None
    assert row["expires_at"] - end == frozen.left           # two days left, as when it was paused
    ended = await conn.fetchrow("SELECT ended_at, ended_by FROM subscription_freezes WHERE user_id = 1")
    assert ended["ended_at"] == end and ended["ended_by"] == "schedule"
    actions = await conn.fetch("SELECT action, idempotency_key FROM activations WHERE user_id = 1 ORDER BY id")
    assert [(r["action"], r["idempotency_key"].split(":")[0]) for r in actions] == [("expire", "freeze"),
                                                                                   ("extend", "unfreeze")]
    await jobs.run_once(end)                    # a second pass finds nothing more to do
    assert await conn.fetchval("SELECT count(*) FROM activations WHERE user_id = 1") == 2


async def test_refusals_and_the_yearly_allowance(conn) -> None:
    now = _now()
    await add_user(conn, 10)
    await add_subscription(conn, 10, in_days(now, 60))
    await add_user(conn, 11)
    await add_subscription(conn, 11, in_days(now, 2), trial=True)
    await add_user(conn, 12)
    await add_subscription(conn, 12, now - timedelta(hours=1))              # ended

    assert await freeze(conn, 11, 3, now=now, days_per_year=30) is FreezeRefusal.NOT_PAID
    assert await freeze(conn, 12, 3, now=now, days_per_year=30) is FreezeRefusal.NOT_PAID
    assert await freeze(conn, 99, 3, now=now, days_per_year=30) is FreezeRefusal.NOT_PAID
    assert await freeze(conn, 10, 3, now=now, days_per_year=0) is FreezeRefusal.DISABLED
    assert await freeze(conn, 10, 31, now=now, days_per_year=30) is FreezeRefusal.ALLOWANCE

    first = await freeze(conn, 10, 20, now=now, days_per_year=30)
    assert isinstance(first, Freeze)
    assert await freeze(conn, 10, 1, now=now, days_per_year=30) is FreezeRefusal.FROZEN
    # Unfrozen after 4 days: only those count, so 26 days of the year's 30 are left.
    thawed = await unfreeze(conn, 10, now=now + timedelta(days=4), by="user")
    assert thawed is not None and thawed.paused == timedelta(days=4)
    assert await unfreeze(conn, 10, now=now + timedelta(days=4), by="user") is None     # a second tap
    later = now + timedelta(days=5)
    assert await freeze(conn, 10, 27, now=later, days_per_year=30) is FreezeRefusal.ALLOWANCE
    second = await freeze(conn, 10, 26, now=later, days_per_year=30)
    assert isinstance(second, Freeze)
    await unfreeze(conn, 10, now=later + timedelta(days=26), by="user")
    # A year after the first pause began it no longer counts; the second (26 days) still does.
    year_on = now + timedelta(days=366)
    await conn.execute("UPDATE subscriptions SET expires_at = $2 WHERE user_id = $1", 10, year_on + timedelta(days=30))
    assert await freeze(conn, 10, 5, now=year_on, days_per_year=30) is FreezeRefusal.ALLOWANCE
    assert isinstance(await freeze(conn, 10, 4, now=year_on, days_per_year=30), Freeze)


async def test_days_granted_while_paused_are_added_to_the_days_kept(conn) -> None:
    now = _now()
    await add_user(conn, 20)
    await add_subscription(conn, 20, in_days(now, 1))
    async with conn.transaction():
        frozen = await freeze(conn, 20, 10, now=now, days_per_year=30)
        assert isinstance(frozen, Freeze)
    # Past the old expiry, still paused: a purchase must not start from now, nor end the pause.
    await conn.execute("UPDATE subscription_freezes SET started_at = started_at - interval '3 days' WHERE user_id = 20")
    await conn.execute("""UPDATE subscriptions SET frozen_at = frozen_at - interval '3 days',
                                                 expires_at = expires_at - interval '3 days' WHERE user_id = 20""")
    async with conn.transaction():
        await grant_days(conn, 20, 30, key="purchase:20")
    row = await conn.fetchrow("SELECT expires_at, frozen_at FROM subscriptions WHERE user_id = 20")
    assert row["frozen_at"] is not None
    assert row["expires_at"] - row["frozen_at"] == frozen.left + timedelta(days=30)
