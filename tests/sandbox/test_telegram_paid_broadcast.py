"""Paid broadcasts at the Telegram stand-in: the free bot-wide limit answers 429 with retry_after,
allow_paid_broadcast goes past it up to its own ceiling, each message beyond the free limit costs
the bot 0.1 Star, and a send the balance cannot pay for is refused (and not delivered)."""

from __future__ import annotations

import time

import aiohttp
import pytest

from sandbox.telegram import Limits, TelegramControl, TelegramStandIn
from sandbox.telegram.ratelimit import PaidAdmission, RateLimiter
from tests.sandbox.test_telegram_limits import FakeClock

FIRST = 7_000_000


@pytest.fixture
async def standin():
    async with TelegramStandIn(limits={"global_rate": 30, "global_burst": 30}) as stand_in:
        yield stand_in


async def _send(http: aiohttp.ClientSession, standin: TelegramStandIn, chat_id: int, *, paid: bool) -> dict:
    body = {"chat_id": chat_id, "text": f"news for {chat_id}"}
    if paid:
        body["allow_paid_broadcast"] = True
    async with http.post(f"{standin.url}/bot{standin.token}/sendMessage", json=body) as response:
        return await response.json()


def test_paid_admission_is_free_first_then_billed_then_capped():
    clock = FakeClock()
    limiter = RateLimiter(Limits(global_rate=2, global_burst=2, paid_rate=3, paid_burst=3, chat_burst=5), clock=clock)
    admitted = [limiter.acquire_paid(chat, affordable=True) for chat in range(1, 7)]
    assert admitted[:2] == [PaidAdmission(), PaidAdmission()]                       # within the free limit
    assert admitted[2:5] == [PaidAdmission(billed=True)] * 3                       # beyond it, billed
    assert admitted[5] == PaidAdmission(retry_after=1)                            # beyond the paid ceiling
    clock.now += 0.5
    assert limiter.acquire_paid(7, affordable=False) == PaidAdmission(retry_after=None, billed=False)  # free again
    assert limiter.acquire_paid(8, affordable=False) == PaidAdmission(short_of_stars=True)
    assert limiter.acquire(9) == 1    # the free limit is shared with ordinary sends


async def test_free_sends_get_429_with_retry_after_past_30_per_second(standin):
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        answers = [await _send(http, standin, FIRST + n, paid=False) for n in range(45)]
    refilled = 30 * (time.monotonic() - started)
    refused = [a for a in answers if not a["ok"]]
    assert sum(a["ok"] for a in answers) <= 30 + refilled + 1   # the burst, plus what refilled meanwhile
    assert refused and all(a["error_code"] == 429 and a["parameters"]["retry_after"] >= 1 for a in refused)
    assert (await standin.star_balance())["billed_messages"] == 0


async def test_paid_sends_pass_the_free_limit_and_are_billed_from_the_balance(standin):
    await standin.set_limits(global_rate=1, global_burst=30)   # a slow loop must not refill the free limit
    await standin.set_star_balance(100)
    async with aiohttp.ClientSession() as http:
        answers = [await _send(http, standin, FIRST + n, paid=True) for n in range(80)]
    assert all(a["ok"] for a in answers), [a for a in answers if not a["ok"]][:3]
    balance = await standin.star_balance()
    billed = balance["billed_messages"]
    assert 80 - 33 <= billed <= 80 - 30                  # only messages beyond the free 30 cost Stars
    nanostars = balance["amount"] * 10**9 + balance.get("nanostar_amount", 0)
    assert nanostars == 100 * 10**9 - billed * 10**8      # 0.1 Star each, nothing else
    assert len({a["result"]["chat"]["id"] for a in answers}) == 80


async def test_short_balance_refuses_the_billed_send_and_delivers_nothing(standin):
    await standin.set_limits(global_rate=1, global_burst=30)
    await standin.set_star_balance(0, 300_000_000)        # 0.3 Star: three billed messages
    await standin.block(FIRST + 5)
    async with aiohttp.ClientSession() as http:
        answers = [await _send(http, standin, FIRST + n, paid=True) for n in range(40)]
    failures = [(n, a["error_code"], a["description"]) for n, a in enumerate(answers) if not a["ok"]]
    assert failures[0] == (5, 403, "Forbidden: bot was blocked by the user")     # a refusal is never billed
    short = failures[1:]
    assert short and all(f[1:] == (400, "Bad Request: BALANCE_TOO_LOW") for f in short)
    balance = await standin.star_balance()
    assert balance["billed_messages"] == 3 and balance["amount"] == 0 and "nanostar_amount" not in balance
    for n, _, _ in short:
        assert await standin.transcript(FIRST + n) == []


async def test_get_my_star_balance_through_aiogram_and_the_control_api(standin, bot):
    assert (await bot.get_my_star_balance()).amount == 0
    await standin.set_star_balance(12, 500_000_000)
    balance = await bot.get_my_star_balance()
    assert (balance.amount, balance.nanostar_amount) == (12, 500_000_000)
    async with TelegramControl(standin.url) as control:
        await control.set_star_balance(-1, -200_000_000)   # Telegram's StarAmount may be negative
        assert (await control.star_balance())["amount"] == -1
    balance = await bot.get_my_star_balance()
    assert (balance.amount, balance.nanostar_amount) == (-1, -200_000_000)
