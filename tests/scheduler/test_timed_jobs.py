"""Timed jobs on subscriptions, driven in-process with a clock the test moves: reminders at each
threshold once per period, trial notices, expiry cleanup, auto-renewal from balance."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import orjson

from services.scheduler.jobs.auto_renewal import renew_one
from services.scheduler.jobs.timed import TimedJobs
from tests.scheduler.seed import add_subscription, add_user, in_days


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def _notices(conn: asyncpg.Connection) -> list[tuple[int, str, dict, str]]:
    rows = await conn.fetch("SELECT user_id, kind, params, idempotency_key FROM notifications ORDER BY id")
    return [(r["user_id"], r["kind"], orjson.loads(r["params"]), r["idempotency_key"]) for r in rows]


async def test_reminders_trial_notice_and_expiry_each_once_per_threshold(db, conn, settings) -> None:
    now = _now()
    await add_user(conn, 1)
    await add_subscription(conn, 1, in_days(now, 2.5))                 # 3-day window
    await add_user(conn, 2)
    await add_subscription(conn, 2, in_days(now, 0.5))                 # already in the 1-day window
    await add_user(conn, 3)
    await add_subscription(conn, 3, now + timedelta(hours=10), trial=True)
    await add_user(conn, 4)
    await add_subscription(conn, 4, in_days(now, 10))                  # not yet
    await add_user(conn, 5, banned=True)
    await add_subscription(conn, 5, in_days(now, 2))
    await add_user(conn, 6, blocked=True)
    await add_subscription(conn, 6, in_days(now, 2))
    jobs = TimedJobs(db, settings(), nudger=None)

    await jobs.run_once(now)
    first = await _notices(conn)
    assert sorted((u, k, p.get("days_left")) for u, k, p, _ in first) == [
        (1, "expiry_reminder", 3), (2, "expiry_reminder", 1), (3, "trial_ending", None)]
    day1 = in_days(now, 2.5).astimezone(UTC).date().isoformat()
    assert ("reminder:1:" + day1 + ":3d") in [key for *_, key in first]

    await jobs.run_once(now)                                           # a second pass (or a restarted scheduler)
    assert await _notices(conn) == first

    later = now + timedelta(days=2)                                    # 1 is now inside 1 day; 2 and 3 have expired
    await jobs.run_once(later)
    await jobs.run_once(later)
    notices = await _notices(conn)
    new = sorted((u, k, p.get("days_left")) for u, k, p, _ in notices[len(first):])
    # Banned users and users who blocked the bot are expired too, but get no notice.
    assert new == [(1, "expiry_reminder", 1), (2, "subscription_expired", None), (3, "subscription_expired", None)]
    statuses = dict(await conn.fetch("SELECT user_id, status FROM subscriptions"))
    assert statuses == {1: "active", 2: "expired", 3: "expired", 4: "active", 5: "expired", 6: "expired"}
    activations = await conn.fetch("SELECT user_id, action, idempotency_key FROM activations ORDER BY user_id")
    assert [(r["user_id"], r["action"]) for r in activations] == [(2, "expire"), (3, "expire"), (5, "expire"), (6, "expire")]
    assert all(r["idempotency_key"].startswith(f"expire:{r['user_id']}:") for r in activations)


async def test_a_renewed_subscription_is_a_new_period(db, conn, settings) -> None:
    now = _now()
    await add_user(conn, 10)
    await add_subscription(conn, 10, in_days(now, 0.5))
    jobs = TimedJobs(db, settings(), nudger=None)
    await jobs.run_once(now)
    await conn.execute("UPDATE subscriptions SET expires_at = expires_at + interval '30 days' WHERE user_id = 10")
    await jobs.run_once(now + timedelta(days=29, hours=12))
    kinds = [(k, p["days_left"]) for _, k, p, _ in await _notices(conn)]
    assert kinds == [("expiry_reminder", 1), ("expiry_reminder", 1)]


async def test_auto_renewal_debits_once_extends_and_queues_activation(db, conn, settings) -> None:
    now = _now()
    expires = in_days(now, 0.5)
    await add_user(conn, 20, balance=Decimal("10.00"))
    await add_subscription(conn, 20, expires, auto_renew=True)
    jobs = TimedJobs(db, settings(), nudger=None)
    await asyncio.gather(jobs.run_once(now), jobs.run_once(now))      # even two overlapping passes
    await jobs.run_once(now)

    assert await conn.fetchval("SELECT balance FROM users WHERE id = 20") == Decimal("7.00")
    ledger = await conn.fetch("SELECT amount, kind, reference FROM balance_ledger WHERE user_id = 20")
    period = expires.astimezone(UTC).date().isoformat()
    assert [(r["amount"], r["kind"], r["reference"]) for r in ledger] == [(Decimal("-3.00"), "renewal", f"20:{period}")]
    new_expiry = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = 20")
    assert new_expiry == expires + timedelta(days=30)
    activation = await conn.fetchrow("SELECT action, idempotency_key FROM activations WHERE user_id = 20")
    assert (activation["action"], activation["idempotency_key"]) == ("extend", f"renewal:20:{period}")
    notices = await _notices(conn)
    assert [(k, p["amount"], p["currency"]) for _, k, p, _ in notices] == [("auto_renewed", "3.00", "USD")]

    # The ledger's unique reference is the last line of defence: the same period never debits twice.
    await conn.execute("UPDATE subscriptions SET expires_at = $1 WHERE user_id = 20", expires)
    assert (await renew_one(db, 20, expires, "USD")).renewed == 0
    assert await conn.fetchval("SELECT balance FROM users WHERE id = 20") == Decimal("7.00")


async def test_auto_renewal_short_of_money_tells_once_then_renews_after_top_up(db, conn, settings) -> None:
    now = _now()
    await add_user(conn, 30, balance=Decimal("1.00"))
    await add_subscription(conn, 30, in_days(now, 0.5), auto_renew=True)
    jobs = TimedJobs(db, settings(), nudger=None)
    await jobs.run_once(now)
    await jobs.run_once(now)
    notices = await _notices(conn)
    assert [(k, p["needed"], p["balance"]) for _, k, p, _ in notices] == [("auto_renew_failed", "3.00", "1.00")]
    assert await conn.fetchval("SELECT count(*) FROM balance_ledger") == 0

    await conn.execute("UPDATE users SET balance = 5 WHERE id = 30")
    await jobs.run_once(now)
    assert await conn.fetchval("SELECT balance FROM users WHERE id = 30") == Decimal("2.00")
    assert [k for _, k, _, _ in await _notices(conn)] == ["auto_renew_failed", "auto_renewed"]


async def test_expiry_does_not_undo_a_renewal_committed_first(db, conn, settings) -> None:
    now = _now()
    await add_user(conn, 40)
    await add_subscription(conn, 40, now - timedelta(minutes=5))
    # A purchase lands between the scan and the update: the row lock and re-check keep it active.
    await conn.execute("UPDATE subscriptions SET expires_at = now() + interval '30 days' WHERE user_id = 40")
    jobs = TimedJobs(db, settings(), nudger=None)
    await jobs.run_once(now)
    assert await conn.fetchval("SELECT status FROM subscriptions WHERE user_id = 40") == "active"
    assert await conn.fetchval("SELECT count(*) FROM activations") == 0
