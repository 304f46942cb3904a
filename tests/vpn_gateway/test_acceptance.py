"""The issue's acceptance runs, against the real `python -m services.vpn_gateway` process:

* a panel down for a while during 100 purchases: once it is back every user has a key and the
  panel holds exactly 100 accounts (the outage lasts ATCS_TEST_PANEL_OUTAGE_SECONDS, default 6;
  set it to 60 for the full run: the property checked is the same);
* the gateway killed with SIGKILL in the middle of a batch: after a restart, no duplicates and
  no losses;
* neither run writes a key, a token or Outline's secret path to the gateway's log.

(/start answering within 200 ms while 200 activations wait on a 5-second panel needs the bot;
it is the lead's test, not here.)
"""
from __future__ import annotations

import asyncio
import os
import re
import time

import orjson

from common.contract.core import STATUS
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS
from common.db.database import Database
from sandbox.panels.outline import OutlineStandIn
from sandbox.panels.remnawave import RemnawaveStandIn
from tests.support.wait import wait_for
from tests.vpn_gateway.support import (
    REMNAWAVE_TOKEN, GatewayProcess, buy, fetch, outline_server, remnawave_server, value,
)

OUTAGE_SECONDS = float(os.environ.get("ATCS_TEST_PANEL_OUTAGE_SECONDS", "6"))
PURCHASES = 100


async def nudge(gateway: GatewayProcess) -> None:
    client = gateway.client()
    try:
        await client.call(NUDGE_ACTIVATIONS, timeout=1.0)
    except Exception:  # noqa: BLE001 - a nudge is best effort, as in production
        pass
    finally:
        client.close()


async def panel_status(gateway: GatewayProcess) -> dict:
    client = gateway.client()
    try:
        return (await client.call(STATUS, timeout=2.0)).details["panels"]
    finally:
        client.close()


async def every_user_has_a_key(db: Database, users: range) -> bool:
    return await value(db, "SELECT count(*) FROM vpn_accounts WHERE access_key IS NOT NULL AND user_id = ANY($1)",
                       list(users)) == len(users) and await value(
        db, "SELECT count(*) FROM activations WHERE state <> 'done'") == 0


async def assert_exactly_one_key_each(db: Database, users: range, standin, keys_on_panel: dict[str, str]) -> None:
    stats = standin.stats()
    assert stats["accounts"] == len(users), stats
    assert stats["creates_succeeded"] == len(users), stats      # no account was ever made twice
    rows = await fetch(db, "SELECT user_id, external_id, access_key FROM vpn_accounts WHERE user_id = ANY($1)",
                       list(users))
    assert len(rows) == len(users)
    for row in rows:
        assert keys_on_panel[row["external_id"]] == row["access_key"]   # the key we show is the live one
    ready = await fetch(db, "SELECT user_id, count(*) AS n FROM notifications WHERE kind = 'key_ready' "
                            "GROUP BY user_id")
    assert {r["user_id"]: r["n"] for r in ready} == {u: 1 for u in users}


def assert_no_secrets_logged(log: str, secrets: list[str]) -> None:
    assert log.strip(), "the gateway wrote no log at all"
    for secret in secrets:
        assert secret not in log, "a secret reached the gateway's log"


async def test_panel_down_during_100_purchases(database_url: str, db: Database, remnawave: RemnawaveStandIn) -> None:
    gateway = GatewayProcess(database_url, [remnawave_server(remnawave, max_concurrency=8)],
                             vpn_worker_concurrency=16)
    try:
        gateway.start()
        await gateway.wait_ready()
        remnawave.add_fault(route="*", kind="outage")
        down_since = time.monotonic()
        users = range(8000, 8000 + PURCHASES)
        for index, user_id in enumerate(users):
            await buy(db, user_id, 30, key=f"purchase:{user_id}")
            if index % 10 == 9:
                await nudge(gateway)
                # Purchases keep coming in over the first half of the outage (pacing, not sync).
                await asyncio.sleep(OUTAGE_SECONDS / 2 / (PURCHASES / 10))
        await wait_for(gateway.while_running(lambda: _breaker_open(gateway)), timeout=OUTAGE_SECONDS + 10,
                       message="breaker open in status")
        assert remnawave.stats()["accounts"] == 0
        # The panel stays down for the rest of the outage (the scenario's duration, not a sync).
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
        remnawave.clear_faults()
        back = time.monotonic()
        await wait_for(gateway.while_running(lambda: every_user_has_a_key(db, users)), timeout=60, interval=0.2,
                       message="every user has a key")
        recovery = time.monotonic() - back
        keys = {u["username"]: u["subscriptionUrl"] for u in (remnawave.user(i) for i in _ids(remnawave))}
        await assert_exactly_one_key_each(db, users, remnawave, keys)
        assert recovery < 30, f"took {recovery:.1f}s after the panel came back"
        assert (await panel_status(gateway))["rw-1"]["breaker"]["state"] == "closed"
        assert_no_secrets_logged(gateway.log(), [REMNAWAVE_TOKEN, *keys.values()])
    finally:
        gateway.close()


async def _breaker_open(gateway: GatewayProcess) -> bool:
    panels = await panel_status(gateway)
    return panels["rw-1"]["breaker"]["state"] in ("open", "half_open") and panels["rw-1"]["healthy"] is False


def _ids(standin: RemnawaveStandIn) -> list[int]:
    return [user.id for user in standin.users.all()]


async def test_sigkill_in_the_middle_of_a_batch_loses_and_duplicates_nothing(database_url: str, db: Database,
                                                                            outline: OutlineStandIn) -> None:
    # A slow panel, so that the kill falls while requests are in flight.
    outline.add_fault(route="*", kind="latency", latency=0.15)
    gateway = GatewayProcess(database_url, [outline_server(outline, max_concurrency=8)], vpn_worker_concurrency=8)
    users = range(9000, 9000 + PURCHASES)
    try:
        for user_id in users:
            await buy(db, user_id, 30, key=f"purchase:{user_id}", traffic_gb=50)
        gateway.start()
        await gateway.wait_ready()
        await nudge(gateway)
        await wait_for(gateway.while_running(lambda: outline.stats()["creates_succeeded"] >= 25), timeout=30,
                       interval=0.02, message="a quarter of the batch on the panel")
        gateway.kill()
        killed_at = outline.stats()
        leased = await value(db, "SELECT count(*) FROM activations WHERE leased_until > now()")
        assert 0 < killed_at["accounts"] < PURCHASES and leased > 0, (killed_at, leased)
        gateway.start()
        await gateway.wait_ready()
        await wait_for(gateway.while_running(lambda: every_user_has_a_key(db, users)), timeout=60, interval=0.2,
                       message="every user has a key after the restart")
        keys = {k.id: k.to_api("127.0.0.1")["accessUrl"] for k in outline.keys.all()}
        await assert_exactly_one_key_each(db, users, outline, keys)
        assert all(k["limit"] == 50 * 1024 ** 3 for k in outline.key_usage())
        assert_no_secrets_logged(gateway.log(), [outline.api_prefix, *keys.values()])
        status = orjson.dumps(await panel_status(gateway)).decode()
        assert outline.api_prefix not in status
    finally:
        gateway.close()


async def test_a_5_second_panel_with_200_pending_keeps_the_gateway_responsive(database_url: str, db: Database,
                                                                             outline: OutlineStandIn) -> None:
    """The gateway's share of the "/start within 200 ms" item: its RPCs answer at once while
    every worker slot waits on a 5-second panel; SIGTERM then stops it promptly, and nothing
    of the batch is lost or doubled across the restart."""
    from common.contract.core import PING
    from common.contract.vpn_gateway import USAGE, UsageQuery

    gateway = GatewayProcess(database_url, [outline_server(outline, max_concurrency=8, request_timeout=10)],
                             vpn_worker_concurrency=8)
    try:
        gateway.start()
        await gateway.wait_ready()
        await buy(db, 9500, 30)
        await nudge(gateway)
        await wait_for(gateway.while_running(lambda: every_user_has_a_key(db, range(9500, 9501))), timeout=20,
                       message="the first user has a key")
        outline.add_fault(route="*", kind="latency", latency=5.0)
        users = range(9501, 9701)
        async with db.transaction() as conn:
            from common.shop.access import grant_days
            from tests.vpn_gateway.support import add_user
            for user_id in users:
                await add_user(conn, user_id)
                await grant_days(conn, user_id, 30, key=f"purchase:{user_id}")
        await nudge(gateway)
        await wait_for(gateway.while_running(lambda: _in_flight(gateway, 8)), timeout=10,
                       message="every worker slot on the slow panel")
        client = gateway.client(attempt_timeout=0.75)   # the bot's client default
        try:
            took = []
            for _ in range(20):
                for method in (PING, NUDGE_ACTIVATIONS):
                    started = time.monotonic()
                    await client.call(method, timeout=1.0)
                    took.append(time.monotonic() - started)
            took.sort()
            # Bounded like the bot's /start promise: nine in ten fast, none anywhere near the slow panel's 5 s
            # (a single scheduler hiccup on a loaded machine is not the panel leaking into RPC).
            p90 = took[int(0.9 * len(took))]
            assert p90 < 0.2 and took[-1] < 1.0, f"p90 {p90 * 1000:.0f} ms, slowest {took[-1] * 1000:.0f} ms"
            started = time.monotonic()
            usage = await client.call(USAGE, UsageQuery(user_id=9500), timeout=1.0)
            assert time.monotonic() - started < 0.6 and usage.stale
        finally:
            client.close()
        assert gateway.process is not None
        started = time.monotonic()
        gateway.stop()
        assert gateway.process.returncode == 0, gateway.log()[-3000:]
        assert time.monotonic() - started < 10
        assert not re.search(r"Task was destroyed|Unclosed|unclosed|never awaited|Traceback|task returned",
                             gateway.log()), gateway.log()[-3000:]
        outline.clear_faults()
        gateway.start()
        await gateway.wait_ready()
        await wait_for(gateway.while_running(lambda: every_user_has_a_key(db, range(9500, 9701))), timeout=60,
                       interval=0.2, message="the whole batch done after the restart")
        keys = {k.id: k.to_api("127.0.0.1")["accessUrl"] for k in outline.keys.all()}
        await assert_exactly_one_key_each(db, range(9500, 9701), outline, keys)
    finally:
        gateway.close()


async def _in_flight(gateway: GatewayProcess, slots: int) -> bool:
    client = gateway.client()
    try:
        status = await client.call(STATUS, timeout=1.0)
    finally:
        client.close()
    return status.details["activation_worker"]["in_flight"] >= slots
