"""Reminders, trial notices and expiry are written exactly once per threshold even when the
scheduler is killed between passes and a new one runs them again."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from tests.scheduler.seed import add_subscription, add_user, in_days
from tests.support.wait import wait_for


async def _passes(process) -> int:
    status = await process.status()
    return int(status["details"].get("jobs", {}).get("passes", 0)) if status else 0


async def test_each_notice_once_across_sigkill_restart(conn: asyncpg.Connection, standin, scheduler_factory) -> None:
    now = datetime.now(UTC)
    for user_id, days, trial in ((1, 2.5, False), (2, 0.5, False), (3, 0.4, True), (4, -0.1, False), (5, 6, False)):
        await add_user(conn, user_id)
        await add_subscription(conn, user_id, in_days(now, days), trial=trial)
    env = {"ATCS_SCHEDULER_TICK": "0.2"}
    first = scheduler_factory(env)
    first.start()

    async def passes_at_least(process, n: int) -> bool:
        return await _passes(process) >= n
    await wait_for(lambda: passes_at_least(first, 2), timeout=20, message="two passes")
    before = await conn.fetch("SELECT idempotency_key FROM notifications ORDER BY idempotency_key")
    first.kill()

    second = scheduler_factory(env, run_dir=first.run_dir)
    second.start()
    await wait_for(lambda: passes_at_least(second, 3), timeout=20, message="three passes after restart")

    rows = await conn.fetch("SELECT user_id, kind, idempotency_key FROM notifications ORDER BY user_id, kind")
    assert [(r["user_id"], r["kind"]) for r in rows] == [
        (1, "expiry_reminder"), (2, "expiry_reminder"), (3, "trial_ending"), (4, "subscription_expired")]
    assert [r["idempotency_key"] for r in before] == sorted(r["idempotency_key"] for r in rows)
    assert await conn.fetchval("SELECT count(*) FROM activations WHERE action = 'expire'") == 1
    assert await conn.fetchval("SELECT status FROM subscriptions WHERE user_id = 4") == "expired"
    assert now + timedelta(days=5) < await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = 5")
