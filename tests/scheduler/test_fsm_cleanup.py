"""The timed job that deletes the bot's FSM state of abandoned flows: rows idle longer than
ATCS_FSM_IDLE_DAYS go, in bounded batches; a flow someone is in keeps its state."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.fsm.storage.base import StorageKey
from pydantic import ValidationError

from services.scheduler.settings import SchedulerSettings
from services.bot.repositories.fsm_storage import PostgresStorage
from services.scheduler.jobs import fsm_cleanup
from services.scheduler.jobs.timed import TimedJobs

BOT_ID = 1


def _key(user_id: int) -> StorageKey:
    return StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)


async def _age(conn, storage: PostgresStorage, user_id: int, days: float) -> None:
    """Makes the user's FSM row look last touched `days` ago."""
    await conn.execute("UPDATE bot_fsm SET updated_at = now() - make_interval(secs => $2) WHERE key = $1",
                       storage.row_key(_key(user_id)), days * 86400)


async def test_only_flows_idle_longer_than_the_setting_are_deleted(db, conn, settings) -> None:
    storage = PostgresStorage(db)          # the bot's own storage writes the rows
    for user_id in (1, 2, 3, 4):
        await storage.set_state(_key(user_id), f"Buy:step{user_id}")
    await _age(conn, storage, 1, 40)       # abandoned 40 days ago
    await _age(conn, storage, 3, 40)       # started 40 days ago ...
    await storage.set_data(_key(3), {"plan": "month_1"})   # ... and the user took a step just now
    await _age(conn, storage, 4, 29)       # idle, but not for long enough
    jobs = TimedJobs(db, settings(fsm_idle_days=30), nudger=None)

    await jobs.run_once(datetime.now(UTC))

    assert await storage.get_state(_key(1)) is None
    assert await storage.get_state(_key(2)) == "Buy:step2"       # a fresh flow survives
    assert await storage.get_state(_key(3)) == "Buy:step3"
    assert await storage.get_data(_key(3)) == {"plan": "month_1"}
    assert await storage.get_state(_key(4)) == "Buy:step4"
    assert await conn.fetchval("SELECT count(*) FROM bot_fsm") == 3
    assert jobs.last["fsm_cleanup"]["deleted_fsm_rows"] == 1     # what `status` shows


async def test_a_large_backlog_is_deleted_in_bounded_batches(db, conn, monkeypatch) -> None:
    await conn.execute(
        """INSERT INTO bot_fsm (key, state, updated_at)
           SELECT 'old:' || g, 'Buy:plan', now() - interval '90 days' FROM generate_series(1, 12) g""")
    await conn.execute(
        "INSERT INTO bot_fsm (key, state) SELECT 'fresh:' || g, 'Buy:plan' FROM generate_series(1, 3) g")
    statements: list[int] = []
    delete_idle = fsm_cleanup.repo.delete_idle

    async def counted(*args):
        statements.append(await delete_idle(*args))
        return statements[-1]
    monkeypatch.setattr(fsm_cleanup.repo, "delete_idle", counted)

    outcome = await fsm_cleanup.delete_idle_flows(db, datetime.now(UTC), idle_days=30, batch=5)

    assert statements == [5, 5, 2]
    assert outcome.deleted_fsm_rows == 12
    assert await conn.fetchval("SELECT array_agg(key ORDER BY key) FROM bot_fsm") == ["fresh:1", "fresh:2", "fresh:3"]


def test_the_idle_age_must_be_positive(monkeypatch) -> None:
    monkeypatch.setenv("ATCS_FSM_IDLE_DAYS", "0")
    with pytest.raises(ValidationError, match="fsm_idle_days"):
        SchedulerSettings()
