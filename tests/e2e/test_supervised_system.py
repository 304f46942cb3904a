"""The foundation as an operator meets it: real supervisord, real database, real sockets."""
from __future__ import annotations

import os
import re
import signal
import time

import aiohttp
import pytest

from common.settings.ipc import SERVICES
from common.contract.bot import NUDGE_NOTIFICATIONS
from common.contract.core import PING, PROBE, STATUS, ProbeRequest
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS
from common.ipc import RpcError
from tests.support.postgres import PostgresServer, fresh_database, prepare_template
from tests.support.system import System
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
BAD_SHUTDOWN = re.compile(r"Task was destroyed|Unclosed|ResourceWarning|never awaited|Traceback|unclosed")


@pytest.fixture
async def system(database_url: str):
    system = System(database_url)
    system.start()
    yield system
    system.shutdown()
    system.cleanup()


async def test_every_service_pings_every_peer(system: System) -> None:
    for service in SERVICES:
        pong = await system.client(service).call(PING)
        assert pong.service == service and pong.pid == system.pid(service)
    for service in SERVICES:
        for peer in SERVICES:
            if peer == service:
                continue
            result = await system.client(service).call(PROBE, ProbeRequest(peer=peer), timeout=3)
            assert result.ok, f"{service} -> {peer}: {result.error}"


async def test_the_real_services_answer_the_nudges_others_send_them(system: System) -> None:
    """payments and the scheduler nudge the bot after writing notifications, and everyone nudges
    vpn_gateway after writing activations: the real handlers answer, with the queue they see."""
    # Both answer from their database, whose pools may still be connecting just after start-up.
    async def bot_answers():
        return await system.client("bot").call(NUDGE_NOTIFICATIONS)

    async def gateway_answers():
        return await system.client("vpn_gateway").call(NUDGE_ACTIVATIONS)
    pending = await wait_for(bot_answers, timeout=10, message="the bot answering a nudge")
    assert pending.pending == 0
    nudged = await wait_for(gateway_answers, timeout=10, message="vpn_gateway answering a nudge")
    assert nudged.pending == 0


async def test_status_reports_pool_and_readiness(system: System) -> None:
    status = await system.client("payments").call(STATUS)
    assert status.service == "payments" and status.uptime > 0
    assert status.pool["max"] == 3
    await wait_for(lambda: _ready(system, "payments"), timeout=10, message="payments ready")
    async with aiohttp.ClientSession() as http:
        async with http.get(system.health_url("payments", "/metrics")) as response:
            text = await response.text()
    assert response.status == 200 and "atcs_ready 1.0" in text and "atcs_rpc_requests_total" in text


@pytest.mark.parametrize("service", SERVICES)
async def test_kill_9_is_restarted_and_answers_within_5s(system: System, service: str) -> None:
    old = system.pid(service)
    os.kill(old, signal.SIGKILL)
    killed_at = time.monotonic()

    async def answers() -> bool:
        try:
            pong = await system.client(service).call(PING, timeout=0.5)
        except RpcError:
            return False
        return pong.pid != old
    await wait_for(answers, timeout=5, interval=0.05, message=f"{service} back after kill -9")
    assert time.monotonic() - killed_at < 5
    await wait_for(lambda: system.processes()[f"atcs:{service}"]["statename"] == "RUNNING", timeout=5,
                   message="supervisord sees it RUNNING again")


async def test_stop_all_exits_cleanly_within_bound(system: System) -> None:
    # Every service stops through its own drain path (SIGTERM from supervisord) and exits 0 in time.
    started = time.monotonic()
    result = system.ctl("stop", "all")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 15, f"stop all took {elapsed:.1f}s"
    infos = system.processes()
    for service in SERVICES:
        info = infos[f"atcs:{service}"]
        assert info["statename"] == "STOPPED"
        assert info["exitstatus"] == 0, f"{service}: {info}"
        log = system.log(service)
        assert '"event":"stopped"' in log, log[-2000:]
        assert not BAD_SHUTDOWN.search(log), f"{service} log:\n{log[-3000:]}"
    assert "SIGKILL" not in system.supervisord_log()


async def test_database_outage_is_survived(tmp_path) -> None:
    server = PostgresServer()
    server.start()
    try:
        await prepare_template(server)
        system = System(await fresh_database(server))
        system.start()
        try:
            pids = {s: system.pid(s) for s in SERVICES}
            await wait_for(lambda: all(_db_ok(system, s) for s in SERVICES), timeout=15, message="all see the database")
            server.stop()
            await wait_for(lambda: all(not _db_ok(system, s) for s in SERVICES), timeout=15, message="all report it gone")
            # Degraded, not dead: RPC still answers, with status saying why.
            status = await system.client("vpn_gateway").call(STATUS)
            assert status.ready is False and "database" in status.details["not_ready"]
            server.start()
            await wait_for(lambda: all(_db_ok(system, s) for s in SERVICES), timeout=30, message="all recover")
            assert {s: system.pid(s) for s in SERVICES} == pids, "a service restarted during the outage"
        finally:
            system.shutdown()
            system.cleanup()
    finally:
        server.destroy()


async def test_fatal_program_is_reported(database_url: str) -> None:
    broken = ("[program:broken]\ncommand=/bin/false\nautostart=true\nautorestart=true\nstartsecs=1\n"
              "startretries=1\npriority=200\n")
    system = System(database_url, extra_programs=broken)
    try:
        system.launch()
        await wait_for(lambda: system.processes().get("broken", {}).get("statename") == "FATAL", timeout=20,
                       message="broken program FATAL")
        import asyncpg

        async def alerted() -> bool:
            conn = await asyncpg.connect(database_url)
            try:
                return await conn.fetchval(
                    "SELECT count(*) FROM admin_alerts WHERE kind = 'process_fatal' AND subject = 'broken:broken'") == 1
            finally:
                await conn.close()
        await wait_for(alerted, timeout=15, message="FATAL alert queued for admins")
        assert "program entered FATAL" in system.log("fatal_alerts")
    finally:
        system.shutdown()
        system.cleanup()


def _health(system: System, service: str) -> tuple[int, dict]:
    import json
    import urllib.request
    try:
        with urllib.request.urlopen(system.health_url(service, "/readyz"), timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _ready(system: System, service: str) -> bool:
    return _health(system, service)[0] == 200


def _db_ok(system: System, service: str) -> bool:
    status, body = _health(system, service)
    return "database" not in body["reasons"]
