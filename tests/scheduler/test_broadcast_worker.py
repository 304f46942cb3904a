"""The broadcast worker in-process against the Telegram stand-in: Telegram's failures (5xx, 429,
a text it refuses), pause / resume / cancel through the RPC handlers, the progress message."""
from __future__ import annotations

import asyncio
import collections
from contextlib import asynccontextmanager

import pytest

from common.contract.scheduler import (BroadcastControl, BroadcastQuery, ListBroadcasts, MessageRef,
                                       StartBroadcast, parse_broadcast_callback)
from common.ipc import RpcError
from common.telegram.bot_api import BotApi
from services.scheduler.broadcast.worker import BroadcastWorker
from services.scheduler.rpc.broadcasts import BroadcastHandlers
from services.scheduler.telegram.ratelimit import RateLimiter
from services.scheduler.wakeups import Wakeups
from tests.scheduler.conftest import TOKEN
from tests.scheduler.process import ADMIN_ID
from tests.scheduler.seed import add_subscription, add_users
from tests.scheduler.test_broadcast_process import admin_message, deliveries
from tests.support.wait import wait_for


@asynccontextmanager
async def running_worker(db, standin, config):
    wakeups = Wakeups()
    api = BotApi(standin.url, TOKEN, timeout=5, connections=config.broadcast_concurrency)
    worker = BroadcastWorker(db, api, RateLimiter(config.broadcast_rate, config.broadcast_chat_interval), config, wakeups)
    task = asyncio.create_task(worker.run())
    try:
        yield worker, wakeups
    finally:
        await worker.drain()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()


async def _state(handlers: BroadcastHandlers, broadcast_id: int):
    return await handlers.state(BroadcastQuery(broadcast_id=broadcast_id))


async def _until(handlers, broadcast_id: int, *states: str, timeout: float = 15):
    async def reached():
        current = await _state(handlers, broadcast_id)
        return current if current.state in states else None
    return await wait_for(reached, timeout=timeout, interval=0.05, message=f"broadcast {states}")


async def test_transient_errors_and_429_are_retried_and_counted(db, conn, standin, settings) -> None:
    config = settings(broadcast_rate=200, broadcast_progress_interval=0.2)
    await standin.set_limits(global_rate=1000, global_burst=1000)
    users = await add_users(conn, 100, 60)
    await standin.add_fault("sendMessage", status=502, count=3)
    await standin.add_fault("sendMessage", status=429, retry_after=1, count=1)
    handlers = BroadcastHandlers(db, config)
    async with running_worker(db, standin, config.scheduler) as (_, wakeups):
        state = await handlers.start(StartBroadcast(admin_id=ADMIN_ID, request_id="r", text="Hi <b>ATCS</b>"))
        wakeups.fire("broadcast")
        final = await _until(handlers, state.broadcast_id, "done")
    per_chat = collections.Counter(int(c["params"]["chat_id"]) for c in deliveries(await standin.calls()))
    assert set(per_chat) == set(users) and max(per_chat.values()) == 1
    assert (final.sent, final.failed, final.throttled) == (60, 0, 1)
    retried = await conn.fetchval(
        "SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND attempts = 2", state.broadcast_id)
    assert retried == 3


async def test_a_text_telegram_refuses_fails_the_broadcast_not_the_recipients(db, conn, standin, settings) -> None:
    config = settings(broadcast_rate=200)
    await standin.set_limits(global_rate=1000, global_burst=1000)
    await add_users(conn, 100, 30)
    handlers = BroadcastHandlers(db, config)
    async with running_worker(db, standin, config.scheduler) as (_, wakeups):
        state = await handlers.start(StartBroadcast(admin_id=ADMIN_ID, request_id="bad", text="<b>unclosed"))
        wakeups.fire("broadcast")
        final = await _until(handlers, state.broadcast_id, "failed")
    assert "can't parse entities" in final.error and final.sent == 0 and final.failed == 0
    assert await conn.fetchval("SELECT count(*) FROM broadcast_recipients WHERE state = 'pending'") == 30


async def test_pause_resume_cancel_and_the_progress_buttons(db, conn, standin, settings) -> None:
    config = settings(broadcast_rate=20, broadcast_progress_interval=0.2)
    await add_users(conn, 100, 400)
    handlers = BroadcastHandlers(db, config)
    progress = await admin_message(standin)
    async with running_worker(db, standin, config.scheduler) as (_, wakeups):
        state = await handlers.start(StartBroadcast(
            admin_id=ADMIN_ID, request_id="p", text="Pause me", progress=MessageRef(chat_id=ADMIN_ID, message_id=progress)))
        wakeups.fire("broadcast")
        await _until(handlers, state.broadcast_id, "running")
        await wait_for(lambda: _sent_at_least(handlers, state.broadcast_id, 10), timeout=10, message="some sent")

        # The buttons on the admin's message carry what the bot's admin router needs.
        async def has_buttons():
            message = (await standin.transcript(ADMIN_ID))[0]
            markup = message["reply_markup"] or {}
            return markup.get("inline_keyboard")
        keyboard = await wait_for(has_buttons, timeout=5, message="buttons shown")
        assert [parse_broadcast_callback(b["callback_data"]) for b in keyboard[0]] == [
            ("pause", state.broadcast_id), ("cancel", state.broadcast_id)]

        control = BroadcastControl(admin_id=ADMIN_ID, broadcast_id=state.broadcast_id)
        paused = await handlers.control(control, "pause")
        assert paused.state == "paused" and (await handlers.control(control, "pause")).state == "paused"
        wakeups.fire("broadcast")
        await wait_for(lambda: _shows(standin, "paused"), timeout=5, message="progress shows paused")
        sent_when_paused = (await _state(handlers, state.broadcast_id)).sent
        calls_when_paused = len(deliveries(await standin.calls(), "Pause"))
        assert calls_when_paused == sent_when_paused, "nothing in flight after a pause settles"

        await handlers.control(control, "resume")
        wakeups.fire("broadcast")
        await wait_for(lambda: _sent_at_least(handlers, state.broadcast_id, sent_when_paused + 5), timeout=10,
                       message="sending again")
        cancelled = await handlers.control(control, "cancel")
        assert cancelled.state == "cancelled" and cancelled.finished_at is not None
        wakeups.fire("broadcast")
        await wait_for(lambda: _shows(standin, "cancelled"), timeout=5, message="progress shows cancelled")
        with pytest.raises(RpcError) as refused:
            await handlers.control(control, "resume")
        assert refused.value.code == "conflict"
    final = await _state(handlers, state.broadcast_id)
    assert 0 < final.sent < 400 and final.remaining == 400 - final.sent
    message = (await standin.transcript(ADMIN_ID))[0]
    assert message["reply_markup"] is None and len(await standin.transcript(ADMIN_ID)) == 1


async def test_start_is_idempotent_checked_and_audited(db, conn, settings) -> None:
    config = settings()
    handlers = BroadcastHandlers(db, config)
    request = StartBroadcast(admin_id=ADMIN_ID, request_id="same", text="Once", audience="active")
    first = await handlers.start(request)
    again = await handlers.start(request)
    assert again.broadcast_id == first.broadcast_id
    with pytest.raises(RpcError) as conflict:
        await handlers.start(request.model_copy(update={"text": "Other"}))
    assert conflict.value.code == "conflict"
    with pytest.raises(RpcError) as forbidden:
        await handlers.start(request.model_copy(update={"admin_id": 42}))
    assert forbidden.value.code == "forbidden"
    with pytest.raises(RpcError) as missing:
        await handlers.state(BroadcastQuery(broadcast_id=999))
    assert missing.value.code == "not_found"
    assert await conn.fetchval("SELECT count(*) FROM admin_audit WHERE action = 'broadcast_start'") == 1
    listed = await handlers.list(ListBroadcasts(limit=5))
    assert [b.broadcast_id for b in listed.broadcasts] == [first.broadcast_id]


async def test_audiences_freeze_the_right_users(db, conn, standin, settings) -> None:
    from datetime import UTC, datetime, timedelta
    from services.scheduler.repositories import broadcasts as repo
    now = datetime.now(UTC)
    await add_users(conn, 1, 6)
    await add_users(conn, 7, 1, language="ru")
    await add_subscription(conn, 1, now + timedelta(days=5))
    await add_subscription(conn, 2, now + timedelta(days=1), trial=True)
    await add_subscription(conn, 3, now - timedelta(days=1), status="expired")
    await add_subscription(conn, 7, now + timedelta(days=5))
    await conn.execute("UPDATE users SET is_banned = true WHERE id = 5")
    await conn.execute("UPDATE users SET blocked_bot = true WHERE id = 6")
    handlers = BroadcastHandlers(db, settings())
    expected = {"all": [1, 2, 3, 4, 7], "active": [1, 2, 7], "inactive": [3], "trial": [2], "never_subscribed": [4]}
    for audience, users in expected.items():
        state = await handlers.start(StartBroadcast(admin_id=ADMIN_ID, request_id=audience, text="x", audience=audience))
        async with conn.transaction():
            await repo.materialize(conn, state.broadcast_id, audience, None)
        got = await conn.fetch("SELECT user_id FROM broadcast_recipients WHERE broadcast_id = $1 ORDER BY 1",
                               state.broadcast_id)
        assert [r["user_id"] for r in got] == users, audience
    state = await handlers.start(StartBroadcast(admin_id=ADMIN_ID, request_id="ru", text="x", language="ru"))
    async with conn.transaction():
        assert await repo.materialize(conn, state.broadcast_id, "all", "ru") == 1


async def _sent_at_least(handlers, broadcast_id: int, n: int) -> bool:
    return (await _state(handlers, broadcast_id)).sent >= n


async def _shows(standin, word: str) -> bool:
    return word in ((await standin.transcript(ADMIN_ID))[0]["text"] or "")
