"""`atcs up` returns when the bot answers, not merely when supervisord calls its process RUNNING:
it waits (within its timeout) for the bot's /readyz, and names the bot with its reasons if that
never comes. Real HTTP servers stand in for the bot's health endpoint."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from aiohttp import web

from common.settings.health import HealthSettings
from ops.supervise import _wait_ready
from tests.support.ports import free_port


async def _health(port: int, ready_after: int | None) -> web.AppRunner:
    """/readyz refuses (503, with the bot's kind of reason) until `ready_after` requests were made;
    None: never ready."""
    asked = 0

    async def readyz(_: web.Request) -> web.Response:
        nonlocal asked
        asked += 1
        if ready_after is not None and asked > ready_after:
            return web.json_response({"ready": True, "service": "bot", "reasons": {}})
        return web.json_response({"ready": False, "service": "bot", "reasons": {"telegram": "not polling Telegram yet"}},
                                 status=503)
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def _settings(port: int) -> SimpleNamespace:
    return SimpleNamespace(health=HealthSettings(health_host="127.0.0.1", health_port_bot=port))


async def test_up_waits_until_the_bot_is_ready() -> None:
    port = free_port()
    runner = await _health(port, ready_after=3)
    try:
        not_ready = await asyncio.to_thread(_wait_ready, _settings(port), ["bot", "payments"], time.monotonic() + 20)
    finally:
        await runner.cleanup()
    assert not_ready == {}


async def test_a_bot_that_never_gets_ready_is_named_with_its_reason_at_the_deadline() -> None:
    port = free_port()
    runner = await _health(port, ready_after=None)
    try:
        started = time.monotonic()
        not_ready = await asyncio.to_thread(_wait_ready, _settings(port), ["bot"], started + 1.0)
    finally:
        await runner.cleanup()
    assert not_ready == {"bot": "telegram: not polling Telegram yet"}
    assert time.monotonic() - started < 10


def test_a_bot_not_run_here_is_not_waited_for() -> None:
    assert _wait_ready(_settings(free_port()), ["payments", "scheduler"], time.monotonic() + 30) == {}
