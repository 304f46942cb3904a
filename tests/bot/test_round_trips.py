"""Database round trips per update: a /start or a menu tap of a user with no flow in progress is
one statement (the user upsert, which also reads the FSM row), not four plus a reset per release.
Counted on the bot's own pool connections, with the real dispatcher and a real PostgreSQL."""
from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey

from tests.bot.chat import labels

USERS = range(5001, 5011)


def statements_sent(db) -> int:
    """Queries completed on every connection of the bot's pool (asyncpg counts them for max_queries)."""
    return sum(holder._con._protocol.queries_count for holder in db.pool._holders if holder._con is not None)


async def test_a_start_costs_one_statement(make_inprocess, standin) -> None:
    bot = await make_inprocess()
    await bot.say(4999, "/start")  # the pool's connections exist now
    before = statements_sent(bot.db)
    for user_id in USERS:
        await bot.say(user_id, "/start")
    spent = statements_sent(bot.db) - before
    for user_id in USERS:  # and each was answered with the menu
        assert "🛒 Buy" in labels((await standin.transcript(user_id))[-1])
    # One a /start; the pool keeper's probe (once a second) may add one or two.
    assert spent <= len(USERS) + 2, f"{spent} statements for {len(USERS)} /start"


async def test_a_flow_in_progress_is_still_cleared_by_start(make_inprocess, standin) -> None:
    """The snapshot must not hide a state: /start in the middle of a flow ends the flow."""
    bot = await make_inprocess()
    await bot.say(5100, "/start")
    storage = bot.dp.fsm.storage
    key = StorageKey(bot_id=bot.bot.id, chat_id=5100, user_id=5100)
    await storage.set_state(key, "Some:flow")
    await storage.set_data(key, {"step": 2})
    await bot.say(5100, "/start")
    assert await storage.get_state(key) is None
    assert await storage.get_data(key) == {}


async def test_no_update_is_handed_to_a_worker_thread(make_inprocess, standin, monkeypatch) -> None:
    """aiogram runs plain-function filters (magic filters: the admin router's, the menu's) in a
    worker thread; the bot runs them on the loop. A /start and a menu tap are routed as before
    (past the admin router's filter), and nothing goes to a thread."""
    import asyncio

    handed: list[object] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(func, /, *args, **kwargs):
        handed.append(func)
        return await real_to_thread(func, *args, **kwargs)
    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    bot = await make_inprocess()
    await bot.say(5200, "/start")
    assert "🛒 Buy" in labels((await standin.transcript(5200))[-1])
    await bot.tap(5200, data="m:help")
    assert "⬅️ Main menu" in labels((await standin.transcript(5200))[-1])
    assert handed == []
