"""Flood control, blocked users and injected faults, as a bot sees them through aiogram."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from sandbox.telegram import Limits
from sandbox.telegram.ratelimit import RateLimiter

USER = 3003


# --- flood control -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_and_refusals_cost_nothing():
    clock = FakeClock()
    limiter = RateLimiter(Limits(chat_rate=1, chat_burst=3, global_rate=30, global_burst=30), clock=clock)
    assert [limiter.acquire(1) for _ in range(3)] == [None, None, None]
    assert limiter.acquire(1) == 1
    assert limiter.acquire(2) is None  # other chats have their own bucket
    clock.now += 0.5
    assert limiter.acquire(1) == 1  # half a token is not a token; retry_after is whole seconds >= 1
    clock.now += 0.5
    assert limiter.acquire(1) is None  # the refused attempts did not spend the refill
    assert limiter.acquire(1) == 1


def test_global_bucket_limits_across_chats():
    clock = FakeClock()
    limiter = RateLimiter(Limits(global_rate=2, global_burst=2, chat_burst=5), clock=clock)
    assert [limiter.acquire(chat) for chat in (1, 2, 3)] == [None, None, 1]
    clock.now += 0.5
    assert limiter.acquire(4) is None


async def test_per_chat_flood_surfaces_as_retry_after(bot, standin):
    for n in range(3):  # the default burst
        await bot.send_message(USER, f"m{n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(USER, "one too many")
    assert refused.value.retry_after >= 1 and "Too Many Requests: retry after" in refused.value.message
    assert await bot.send_message(USER + 1, "another chat is fine")
    assert [c["status"] for c in await standin.calls("sendMessage")] == [200, 200, 200, 429, 200]
    assert len(await standin.transcript(USER)) == 3


async def test_global_flood_limit_and_runtime_limit_changes(bot, standin):
    await standin.set_limits(global_rate=2, global_burst=2)
    await bot.send_message(USER, "a")
    await bot.send_message(USER + 1, "b")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER + 2, "c")
    await standin.set_limits(global_rate=100, global_burst=100, chat_burst=10)
    for n in range(5):
        await bot.send_message(USER, f"burst {n}")


def test_limits_refuse_unknown_or_nonsense_values():
    with pytest.raises(ValueError, match="unknown limit"):
        Limits().updated({"chat_speed": 3})
    with pytest.raises(ValueError, match="positive"):
        Limits().updated({"chat_rate": 0})


# --- blocked users -----------------------------------------------------------------------------


async def test_blocked_user_refuses_sends_until_they_restart_the_bot(bot, standin):
    await standin.block(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "reminder")
    [update] = await bot.get_updates()
    member = update.my_chat_member
    assert (member.chat.id, member.old_chat_member.status, member.new_chat_member.status) == (USER, "member", "kicked")

    await standin.user_message(USER, "/start")  # pressing "Restart" unblocks
    assert await bot.send_message(USER, "welcome back")
    statuses = [u.my_chat_member.new_chat_member.status for u in await bot.get_updates(offset=update.update_id + 1) if u.my_chat_member]
    assert statuses == ["member"]


# --- faults ------------------------------------------------------------------------------------


async def test_server_error_fault_applies_to_the_given_number_of_calls(bot, standin):
    await standin.add_fault("sendMessage", status=500, count=1)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(USER, "first")
    assert await bot.send_message(USER, "second")
    assert await standin.faults() == []
    assert [c["status"] for c in await standin.calls("sendMessage")] == [500, 200]


async def test_fault_until_cleared_and_only_for_its_method(bot, standin):
    await standin.add_fault("sendMessage", status=502)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(USER, "x")
    assert (await bot.get_me()).id == 123456
    await standin.clear_faults()
    assert await bot.send_message(USER, "through")


async def test_nginx_style_html_502_is_not_json(bot, standin):
    await standin.add_fault("*", status=502, raw_body="<html><body>502 Bad Gateway</body></html>", count=1)
    with pytest.raises(ClientDecodeError):
        await bot.get_me()


async def test_injected_429_carries_retry_after(bot, standin):
    await standin.add_fault("sendMessage", status=429, retry_after=7, count=1)
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(USER, "x")
    assert refused.value.retry_after == 7


async def test_latency_fault_delays_only_its_method(bot, standin):
    # The delay is far above the bound for the undelayed call: a loaded machine cannot blur the two.
    await standin.add_fault("getMe", latency=1.5)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 1.5
    started = time.monotonic()
    await bot.get_webhook_info()
    assert time.monotonic() - started < 1.0


async def test_outage_closes_the_connection_without_an_answer(bot, standin):
    await standin.add_fault("*", outage=True, count=1)
    with pytest.raises(TelegramNetworkError):
        await bot.get_me()
    assert (await bot.get_me()).id == 123456
    assert [c["status"] for c in await standin.calls("getMe")] == [0, 200]


async def test_stop_does_not_wait_out_long_polls_or_latency(standin, bot):
    await standin.add_fault("getMe", latency=30)
    polls = [asyncio.create_task(bot.get_updates(timeout=30)), asyncio.create_task(bot.get_me())]
    await standin.world.wakeup.wait_for(lambda: True if len(standin.world.calls) == 2 else None, 2)
    started = time.monotonic()
    await standin.stop()
    assert time.monotonic() - started < 1.5
    results = await asyncio.wait_for(asyncio.gather(*polls, return_exceptions=True), 2)
    assert results[0] == []
