"""Panels behind a self-signed certificate, reached by pinning its SHA-256 (`cert_sha256`), on
every backend, against real TLS servers whose certificate is made when the test starts.

A matching pin works whatever the chain or hostname; a wrong pin, or no pin in front of a
self-signed certificate, refuses the server: not ready with a reason naming it (never its
URL), nothing sent to it, and no retry storm however much work waits for it."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import aiohttp
import orjson
import pytest

from tests.support.http import client_session
from tests.support.wait import wait_for
from tests.vpn_gateway.support import GatewayProcess, InProcessGateway, buy, fetch, outline_server, vpn_settings

KINDS = ["outline", "remnawave", "marzban", "xui"]
USERS = range(6600, 6608)
WINDOW = 3.0            # seconds over which a refused server's connection attempts are counted
A_WRONG_PIN = hashlib.sha256(b"the certificate of some other server").hexdigest()


def connection_attempts() -> tuple[aiohttp.TraceConfig, list[float]]:
    """A trace config counting the TCP (and so TLS) connections the gateway opens."""
    attempts: list[float] = []
    config = aiohttp.TraceConfig()

    async def started(_session, _ctx, _params) -> None:
        attempts.append(time.monotonic())

    config.on_connection_create_start.append(started)
    return config, attempts


def colons(fingerprint: str) -> str:
    """`AB:CD:…` in lower case: the other form the config accepts (as `openssl x509 -fingerprint` prints it)."""
    return ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)).lower()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_pinned_self_signed_panel_works(db, gateways, make_panel, kind: str) -> None:
    standin, server = await make_panel(kind, tls=True)
    if kind == "outline":
        printed = standin.access()          # what the installer prints, pasted as it is
        server = {"name": "ol-1", "backend": "outline", "api_url": printed["apiUrl"],
                  "cert_sha256": printed["certSha256"], "request_timeout": 2.0}
    else:
        server = {**server, "cert_sha256": colons(standin.cert_sha256)}
    assert server["api_url"].startswith("https://")
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, USERS[0], 30)
    await gw.settle()
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = $1", USERS[0]))[0]
    assert account["access_key"] and account["server"] == server["name"]
    assert standin.stats()["accounts"] == 1
    await wait_for(lambda: gw.pool.get(server["name"]).healthy, timeout=10, message="the pinned panel probed healthy")
    assert gw.pool.readiness() == (True, "")
    assert gw.pool.describe()[server["name"]]["pinned"] is True


@pytest.mark.parametrize("kind", KINDS)
async def test_a_wrong_pin_refuses_the_panel_and_sends_it_nothing(db, gateways, make_panel, kind: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The panel's certificate is not the pinned one any more (replaced, or someone in between):
    renewals of its users wait, and it is not sent a byte."""
    standin, server = await make_panel(kind, tls=True)
    name = server["name"]
    before = InProcessGateway(db, vpn_settings([{**server, "cert_sha256": standin.cert_sha256}])).start()
    gateways.append(before)
    for user_id in USERS:
        await buy(db, user_id, 30)
    await before.settle()
    await before.stop()
    keys = await fetch(db, "SELECT user_id, access_key, expires_at FROM vpn_accounts ORDER BY user_id")
    sent = standin.stats()["requests"]

    counter, attempts = connection_attempts()
    gw = InProcessGateway(db, vpn_settings([{**server, "cert_sha256": A_WRONG_PIN}], vpn_health_interval=1.0,
                                           vpn_breaker_cooldown=5.0), trace_configs=[counter])
    gateways.append(gw.start())
    caplog.set_level(logging.INFO, logger="services.vpn_gateway")
    for user_id in USERS:
        await buy(db, user_id, 30)              # renewals, for accounts on this server
    gw.worker.nudge()
    await wait_for(lambda: gw.pool.get(name).refused, timeout=10, message="the wrongly pinned server refused")

    ready, reason = gw.pool.readiness()
    assert not ready
    assert reason.startswith(f"{name}: TLS certificate does not match cert_sha256"), reason
    assert standin.cert_sha256 in reason            # what it presents, to compare with what the panel printed
    assert standin.url not in reason and "127.0.0.1" not in reason
    logged = [r for r in caplog.records if r.getMessage() == "panel server refused"]
    assert logged and all(getattr(r, "server", None) == name for r in logged)

    start = len(attempts)
    await asyncio.sleep(WINDOW)     # the scenario's duration, not a sync: renewals keep waiting on the server
    made = len(attempts) - start
    # About one health probe a second, not a handshake per waiting renewal and retry.
    assert made <= WINDOW / 1.0 + 2, f"{made} connections in {WINDOW}s for {len(USERS)} waiting renewals"
    assert standin.stats()["requests"] == sent                  # not one request reached it
    assert await fetch(db, "SELECT user_id, access_key, expires_at FROM vpn_accounts ORDER BY user_id") == keys
    assert await fetch(db, "SELECT 1 FROM activations WHERE state = 'done' AND action = 'extend'") == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_self_signed_panel_without_a_pin_fails_ca_verification(db, gateways, make_panel, kind: str) -> None:
    standin, server = await make_panel(kind, tls=True)
    name = server["name"]
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, USERS[0], 30)
    await wait_for(lambda: gw.pool.get(name).refused, timeout=10, message="the unpinned self-signed server refused")
    ready, reason = gw.pool.readiness()
    assert not ready
    assert reason.startswith(f"{name}: TLS certificate not trusted by the system CAs (self-signed certificate)")
    assert "needs cert_sha256" in reason
    assert standin.stats()["requests"] == {} and standin.stats()["accounts"] == 0


async def test_the_gateway_process_reports_a_pin_mismatch_on_readyz_and_in_its_log(database_url: str,
                                                                                  make_panel) -> None:
    outline, _ = await make_panel("outline", tls=True)
    gateway = GatewayProcess(database_url, [outline_server(outline, cert_sha256=A_WRONG_PIN)])
    try:
        gateway.start()
        await gateway.wait_ready()

        async def refused() -> dict | None:
            async with client_session() as http:
                async with http.get(f"http://127.0.0.1:{gateway.health_port}/readyz") as response:
                    body = await response.json()
            return body if response.status == 503 and "cert_sha256" in body["reasons"].get("panels", "") else None

        body = await wait_for(gateway.while_running(refused), timeout=20, message="/readyz names the pin mismatch")
        assert body["reasons"]["panels"].startswith("ol-1: TLS certificate does not match cert_sha256")
        lines = [orjson.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
        refusals = [line for line in lines if line.get("event") == "panel server refused"]
        assert refusals and refusals[0]["server"] == "ol-1" and refusals[0]["level"] == "error"
        assert refusals[0]["error"].startswith("ol-1: TLS certificate does not match cert_sha256")
        assert outline.api_prefix not in gateway.log() and outline.url not in gateway.log()
        assert outline.stats()["requests"] == {}
    finally:
        gateway.close()
