"""Issue 16.4 and 16.7: integers out of their column's range, and negative ones, in every callback
data family and in the numbers people type, through the bot's real dispatcher (`feed_raw_update`),
real PostgreSQL and real peer sockets. Every tap gets one clear answer, nothing changes, no peer is
asked, and no traceback reaches any log.

Before the fix `p:<flow>:2147483648` reached PostgreSQL ("value out of int32 range"), the user saw
"something went wrong", and the log had a traceback.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import zmq.asyncio
from aiogram.filters.callback_data import CallbackData

from services.bot.settings import BotSettings
from common.contract.scheduler import BROADCAST_CALLBACK_PREFIX
from common.ipc import RpcClient
from sandbox.telegram.server import TelegramStandIn
from services.bot import callbacks
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminBroadcastAction, AdminBulkAction, AdminPromoAction, AdminUserAction
from services.bot.peers.shop import Peers
from tests.bot.admin_support import seed_purchase, seed_subscription, seed_user, snapshot
from tests.bot.chat import buttons, forged_tap
from tests.bot.fakes import FakePayments, FakeScheduler, FakeVpnGateway
from tests.bot.inprocess import ADMIN_ID, TOKEN, InProcessBot, InProcessBots

STALE = "This button is out of date. Open the menu again."
USER = 8601
TARGET = 8602
NONCE = "AbCd1234"
# Past int4 (plans.id, amounts), past int8 (user and row ids), negative, zero.
OUT_OF_INT4 = ("2147483648", "-2147483649")
OUT_OF_INT8 = ("9223372036854775808", "-9223372036854775809", "99999999999999999999")
NEGATIVE = ("-1", "-2147483648")
BAD = OUT_OF_INT4 + OUT_OF_INT8 + NEGATIVE


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def peers(database_url: str) -> AsyncIterator[tuple[FakePayments, FakeVpnGateway, FakeScheduler, Path]]:
    """The three peers on real sockets; each records every request it is sent."""
    run_dir = Path(tempfile.mkdtemp(prefix="cb-", dir="/tmp"))
    fakes = (FakePayments(database_url, run_dir), FakeVpnGateway(database_url, run_dir),
             FakeScheduler(database_url, run_dir))
    for fake in fakes:
        await fake.start()
    yield (*fakes, run_dir)
    for fake in fakes:
        await fake.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def bot(standin, database_url, peers, monkeypatch) -> AsyncIterator[InProcessBot]:
    monkeypatch.setenv("ATCS_CRYPTOPAY_TOKEN", "1234:AAsandboxCryptoPayToken")   # shows the top-up buttons
    run_dir = peers[-1]
    context = zmq.asyncio.Context()
    clients: dict[str, RpcClient] = {}

    def client(service: str) -> RpcClient:
        if service not in clients:
            clients[service] = RpcClient(context, f"ipc://{run_dir}/{service}.ipc", default_timeout=2.0)
        return clients[service]

    bots = InProcessBots(standin, database_url)
    settings = BotSettings(bot_throttle_burst=1000)
    yield await bots.make(bot_settings={"bot_throttle_burst": 1000}, peers=Peers(client, settings),
                          admin_peers=AdminPeers(client, settings))
    await bots.close()
    for rpc in clients.values():
        rpc.close()
    context.destroy(linger=0)


async def _tap_each(bot: InProcessBot, standin: TelegramStandIn, user_id: int, message_id: int,
                    forged: list[str]) -> dict[str, dict]:
    # Each tap is handled before the next is made: Telegram refuses an answer 15 s after its tap,
    # and hundreds of taps made at once would age past that while waiting their turn on a busy machine.
    taps = {}
    for data in forged:
        taps[data] = await forged_tap(standin, user_id, message_id, data)
        await bot.feed_pending()
    queries = {q["id"]: q for q in await standin.callback_queries()}
    return {data: queries[tap["callback_query_id"]] for data, tap in taps.items()}


def _assert_refused(answers: dict[str, dict]) -> None:
    for data, query in answers.items():
        assert query["answered"] == 1 and query["answer_attempts"] == 1, (data, query)
        assert query["answers"][0]["text"] == STALE, (data, query["answers"])


def _assert_no_trouble_logged(caplog: pytest.LogCaptureFixture) -> None:
    troubles = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert troubles == [], troubles
    assert "Traceback" not in caplog.text


def _families(forged: list[str]) -> set[str]:
    return {data.split(":", 1)[0] for data in forged}


def _every_family() -> set[str]:
    families = {cls.__prefix__ for cls in vars(callbacks).values()
                if isinstance(cls, type) and issubclass(cls, CallbackData) and cls is not CallbackData}
    return families | {BROADCAST_CALLBACK_PREFIX}


USER_FAMILIES = {"m", "p", "pm", "bo", "t", "s", "c", "r", "h", "l", "x", "d", "f"}


async def test_user_families_refuse_out_of_range_integers(bot, standin, db, peers, caplog) -> None:
    caplog.set_level(logging.INFO)
    await bot.say(USER, "/buy")
    plans = (await standin.transcript(USER))[-1]
    flow = buttons(plans)[0]["callback_data"].split(":")[1]
    before = await snapshot(db)

    # The purchase flow is open (FSM state and flow match): the plan field alone is forged.
    answers = await _tap_each(bot, standin, USER, plans["message_id"],
                              [f"p:{flow}:{n}" for n in BAD] + [f"pm:{flow}:{n}" for n in BAD]
                              + [f"bo:{flow}:{n}" for n in BAD] + [f"bo:{n}:promo" for n in OUT_OF_INT8])
    _assert_refused(answers)

    await bot.say(USER, "/balance")
    topups = (await standin.transcript(USER))[-1]
    topup_flow = buttons(topups)[0]["callback_data"].split(":")[1]
    forged = [f"t:{topup_flow}:{n}" for n in BAD]
    forged += [f"{prefix}:{n}" for prefix in ("m", "s", "h", "l") for n in BAD]
    forged += [f"r:{NONCE}:{n}" for n in BAD] + [f"r:{n}:1" for n in BAD]
    forged += [f"c:{NONCE}:{n}:1" for n in BAD] + [f"c:{n}:1:0" for n in OUT_OF_INT8]
    forged += [f"p:{n}:1" for n in BAD]     # the flow field forged too
    # Traffic packages: a number where the package id or the method belongs, outside their flow.
    forged += [f"x:{NONCE}:{n}:balance" for n in BAD] + [f"x:{NONCE}:10gb:{n}" for n in BAD]
    forged += [f"d:{NONCE}:{n}" for n in BAD + ("100",)] + [f"f:{NONCE}:{n}" for n in BAD + ("0", "366")]
    answers = await _tap_each(bot, standin, USER, topups["message_id"], forged)
    _assert_refused(answers)

    assert _families(forged) | {"p", "pm", "bo"} == USER_FAMILIES
    assert await snapshot(db) == {**before, "bot_fsm": (await snapshot(db))["bot_fsm"]}
    payments, vpn, scheduler, _ = peers
    assert payments.requests == [] and payments.calls == [] and vpn.calls == []
    _assert_no_trouble_logged(caplog)


async def test_admin_families_refuse_out_of_range_integers(bot, standin, db, peers, caplog) -> None:
    caplog.set_level(logging.INFO)
    await seed_user(db, TARGET, username="target")
    await seed_subscription(db, TARGET)
    purchase = await seed_purchase(db, TARGET, amount="150", currency="XTR", method="stars")
    await bot.say(ADMIN_ID, "/admin")
    console = (await standin.transcript(ADMIN_ID))[-1]
    before = await snapshot(db)

    forged = [f"a:{n}" for n in BAD]
    for action in AdminUserAction:
        forged += [f"au:{action.value}:{n}:{NONCE}:0" for n in OUT_OF_INT8 + NEGATIVE + ("0",)]
        forged += [f"au:{action.value}:{TARGET}:{NONCE}:{n}" for n in OUT_OF_INT8 + NEGATIVE]
        forged += [f"au:{action.value}:{TARGET}:{n}:{purchase}" for n in OUT_OF_INT8]
    # Broadcast drafts and exports carry no integer: a number where a draft's nonce or an export
    # kind belongs must still name nothing.
    forged += [f"ab:{action.value}:{n}:all" for action in AdminBroadcastAction for n in OUT_OF_INT8]
    forged += [f"ab:{AdminBroadcastAction.AUDIENCE.value}:{NONCE}:{n}" for n in BAD]
    forged += [f"ax:{n}:{NONCE}" for n in BAD]
    forged += [f"abm:{n}:1" for n in OUT_OF_INT8] + [f"abm:{NONCE}:{n}" for n in BAD]   # paid: no such flag
    for action in AdminBulkAction:
        forged += [f"ar:{action.value}::{n}" for n in OUT_OF_INT8 + NEGATIVE]
        forged += [f"ar:{action.value}:{n}:1" for n in OUT_OF_INT8]
    forged += [f"{BROADCAST_CALLBACK_PREFIX}:{action}:{n}" for action in ("pause", "resume", "cancel")
               for n in OUT_OF_INT8 + NEGATIVE]
    for action in AdminPromoAction:
        forged += [f"ap:{action.value}::{n}:0" for n in OUT_OF_INT8 + NEGATIVE]      # a code id out of range
        forged += [f"ap:{action.value}:{NONCE}:0:{n}" for n in OUT_OF_INT8 + NEGATIVE]
    forged += [f"ap:{AdminPromoAction.SHOW.value}::{n}:0" for n in OUT_OF_INT4]
    forged += [f"ap:{AdminPromoAction.KIND.value}:{NONCE}:0:{n}" for n in ("5",) + OUT_OF_INT4]   # no such kind
    answers = await _tap_each(bot, standin, ADMIN_ID, console["message_id"], forged)
    _assert_refused(answers)

    assert _families(forged) | USER_FAMILIES == _every_family(), "a callback family is not covered here"
    assert await snapshot(db) == before
    payments, vpn, scheduler, _ = peers
    assert payments.requests == [] and vpn.requests == [] and scheduler.requests == []
    _assert_no_trouble_logged(caplog)


async def test_typed_numbers_and_deep_links_out_of_range(bot, standin, db, caplog) -> None:
    caplog.set_level(logging.INFO)
    await seed_user(db, TARGET, username="target")
    for typed in ("99999999999999999999", "9223372036854775808", "²", "-5"):
        await bot.say(ADMIN_ID, f"/user {typed}")
        reply = (await standin.transcript(ADMIN_ID))[-1]["text"]
        assert reply.startswith("No user found for"), (typed, reply)

    await bot.say(ADMIN_ID, f"/user {TARGET}")
    card = (await standin.transcript(ADMIN_ID))[-1]
    grant_other = next(b for b in buttons(card) if b["callback_data"].startswith("au:grantx:"))
    await bot.tap(ADMIN_ID, data=grant_other["callback_data"], message_id=card["message_id"])
    before = await snapshot(db)
    for typed in ("99999999999999999999", "²", "-3", "0"):
        await bot.say(ADMIN_ID, typed)
        reply = (await standin.transcript(ADMIN_ID))[-1]["text"]
        assert reply.startswith("How many days to give?"), (typed, reply)
    assert await snapshot(db) == {**before, "bot_fsm": (await snapshot(db))["bot_fsm"]}

    # A deep link a client could never produce (Telegram allows [A-Za-z0-9_-], 64 at most).
    await bot.say(USER, "/start ref_\x00" + "9" * 30)
    assert (await standin.transcript(USER))[-1]["text"].startswith("Hi,")
    _assert_no_trouble_logged(caplog)
