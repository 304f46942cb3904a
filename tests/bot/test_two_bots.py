"""Two bot processes with one token and one database, as on two hosts (separate run dirs): one polls,
the other waits; the poller's death hands polling over within 10 s and no update is lost or answered
twice. And webhook mode: every bot serves the webhook, a re-sent update is answered once, whichever
bot it reaches, and a request without Telegram's secret is refused."""
from __future__ import annotations

import shutil
import tempfile
import time
from typing import Any

import aiohttp
import asyncpg
import zmq.asyncio

from common.contract.core import STATUS
from common.ipc.client import RpcClient
from sandbox.telegram.server import TelegramStandIn
from tests.bot.chat import Person
from tests.support.ports import free_port
from tests.support.wait import wait_for

TAKEOVER_BOUND = 10.0


async def _polling(run_dir: str) -> dict[str, Any] | None:
    context = zmq.asyncio.Context()
    client = RpcClient(context, f"ipc://{run_dir}/bot.ipc", default_timeout=1.0, attempt_timeout=0.5)
    try:
        return (await client.call(STATUS)).details.get("polling")
    except Exception:  # noqa: BLE001 - not answering is an answer here
        return None
    finally:
        client.close()
        context.destroy(linger=0)


async def _launch(launch_bot, **env: str):
    """A bot, once ready: two bots' imports on a busy machine can take longer than the fixture waits."""
    bot = await launch_bot(ready=False, **env)

    async def ready() -> bool:
        body = await bot.readyz()
        return bool(body and body.get("ready"))
    await wait_for(ready, timeout=60, interval=0.1, message="bot ready")
    return bot


def _bot_texts(transcript: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in transcript if m["from"] == "bot"]


async def test_the_standby_takes_over_polling_when_the_poller_dies(launch_bot, standin: TelegramStandIn,
                                                                   database_url: str) -> None:
    other_dir = tempfile.mkdtemp(prefix="atcs-", dir="/tmp")
    try:
        first = await _launch(launch_bot)
        first_dir = first.env["ATCS_RUN_DIR"]
        await wait_for(lambda: _polled_by(first_dir), timeout=20, message="the first bot polls")
        second = await launch_bot(ready=False, ATCS_RUN_DIR=other_dir, ATCS_HEALTH_PORT_BOT=str(free_port()))
        # Ready as a standby: it knows who polls (aiogram's import takes seconds on a busy machine).
        standby = await wait_for(lambda: _standing_by(other_dir), timeout=40, message="the second bot stands by")
        assert not standby["polling"] and (await second.readyz())["ready"], standby
        person = Person(standin, 7101)
        await person.say("/start", timeout=10)   # answered by the first
        # ...and marked finished in the inbox (a poller killed between its answer and this mark
        # leaves the update to be handled again: the one repeat the design allows).
        db = await asyncpg.connect(database_url)
        try:
            await wait_for(lambda: db.fetchval("SELECT count(*) = 1 FROM bot_updates WHERE handled_at IS NOT NULL"),
                           timeout=10, message="the answered update marked finished")
        finally:
            await db.close()

        first.kill()
        killed_at = time.time()
        # Sent while nobody polls: Telegram keeps it until the new poller asks.
        await standin.user_message(7102, "/start", first_name="Ann", language_code="en")
        state = await wait_for(lambda: _polled_by(other_dir), timeout=TAKEOVER_BOUND, message="the standby polls")
        assert state["polling_since"] - killed_at < TAKEOVER_BOUND
        await standin.wait_for_message(7102, None, timeout=10)
        await Person(standin, 7103).say("/start", timeout=10)
        for user_id in (7101, 7102, 7103):
            texts = _bot_texts(await standin.transcript(user_id))
            assert len(texts) == 1, (user_id, texts)   # answered, and once
        second.stop()
    finally:
        shutil.rmtree(other_dir, ignore_errors=True)


async def _standing_by(run_dir: str) -> dict[str, Any] | None:
    state = await _polling(run_dir)
    return state if state and state.get("role") == "standby" and state.get("holder") else None


async def _polled_by(run_dir: str) -> dict[str, Any] | None:
    state = await _polling(run_dir)
    return state if state and state.get("polling") else None


async def test_webhook_mode_answers_each_update_once_on_any_bot(launch_bot, standin: TelegramStandIn) -> None:
    other_dir = tempfile.mkdtemp(prefix="atcs-", dir="/tmp")
    secret = "two-hosts_webhook-secret"
    ports = [free_port(), free_port()]
    try:
        bots = []
        for index, port in enumerate(ports):
            env = {"ATCS_BOT_WEBHOOK_URL": "https://shop.example/telegram/hook",
                   "ATCS_BOT_WEBHOOK_SECRET": secret, "ATCS_BOT_WEBHOOK_HOST": "127.0.0.1",
                   "ATCS_BOT_WEBHOOK_PORT": str(port)}
            if index:
                env.update(ATCS_RUN_DIR=other_dir, ATCS_HEALTH_PORT_BOT=str(free_port()))
            bots.append(await _launch(launch_bot, **env))
        set_calls = await standin.calls("setWebhook")
        assert set_calls and all(c["params"]["url"] == "https://shop.example/telegram/hook" for c in set_calls)
        assert all(c["params"]["secret_token"] == secret for c in set_calls)

        update = await standin.user_message(7201, "/start", first_name="Ann", language_code="en")
        async with aiohttp.ClientSession() as http:
            async def post(port: int, body: dict, token: str | None = secret) -> int:
                headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token is not None else {}
                async with http.post(f"http://127.0.0.1:{port}/telegram/hook", json=body, headers=headers) as response:
                    return response.status

            assert await post(ports[0], update, token="wrong") == 401
            assert await post(ports[0], update, token=None) == 401
            assert _bot_texts(await standin.transcript(7201)) == []
            assert await post(ports[0], update) == 200
            assert len(_bot_texts(await standin.transcript(7201))) == 1   # answered before the 200
            # Telegram re-sends it (the 200 was lost), to the other host: confirmed, not answered again.
            assert await post(ports[1], update) == 200
            assert await post(ports[0], update) == 200
            assert len(_bot_texts(await standin.transcript(7201))) == 1
            assert await post(ports[1], {"nonsense": True}) == 400
            # The other host answers new updates as well.
            second = await standin.user_message(7202, "/start", first_name="Bo", language_code="en")
            assert await post(ports[1], second) == 200
            assert len(_bot_texts(await standin.transcript(7202))) == 1
        for bot in bots:
            bot.stop()
    finally:
        shutil.rmtree(other_dir, ignore_errors=True)
