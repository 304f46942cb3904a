"""The gateway's RPC methods over real ZeroMQ: writes enqueue (idempotent by request_id), usage
answers within its deadline from a cache when the panel is slow."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zmq.asyncio

from common.contract.vpn_gateway import (
    EXTEND, ISSUE, NUDGE_ACTIVATIONS, REISSUE, REVOKE, USAGE, UsageQuery, UserAction,
)
from common.ipc import RpcClient, RpcError, RpcServer
from sandbox.panels.outline import OutlineStandIn
from tests.vpn_gateway.support import InProcessGateway, add_user, buy, outline_server, value, vpn_settings


class Wired:
    def __init__(self, gateway: InProcessGateway, endpoint: str) -> None:
        self.gateway = gateway
        self.context = zmq.asyncio.Context()
        self.server = RpcServer(self.context, endpoint, "vpn_gateway")
        gateway.rpc.register(self.server)
        self.server.bind()
        self.task = asyncio.create_task(self.server.serve())
        self.client = RpcClient(self.context, endpoint, default_timeout=2.0, attempt_timeout=1.0)

    async def close(self) -> None:
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=5)
        assert done, "the RPC server did not stop within 5 s of its cancel"
        await asyncio.gather(self.task, return_exceptions=True)
        self.client.close()
        self.server.close()
        self.context.destroy(linger=0)


@pytest.fixture
async def wired(db, gateways, outline: OutlineStandIn, tmp_path: Path) -> AsyncIterator[Wired]:
    gw = InProcessGateway(db, vpn_settings([outline_server(outline)], vpn_usage_cache_ttl=0.5)).start()
    gateways.append(gw)
    w = Wired(gw, f"ipc://{tmp_path}/g.ipc")
    yield w
    await w.close()


async def test_writes_are_idempotent_by_request_id(db, wired: Wired) -> None:
    await buy(db, 4001, 30)
    await wired.gateway.settle()
    first = await wired.client.call(REISSUE, UserAction(user_id=4001, request_id="r-1"))
    again = await wired.client.call(REISSUE, UserAction(user_id=4001, request_id="r-1"))
    assert again.activation_id == first.activation_id
    await wired.gateway.settle()
    assert await value(db, "SELECT count(*) FROM activations WHERE action = 'reissue'") == 1
    with pytest.raises(RpcError) as conflict:
        await wired.client.call(REVOKE, UserAction(user_id=4001, request_id="r-1"))
    assert conflict.value.code == "conflict"
    with pytest.raises(RpcError) as missing:
        await wired.client.call(ISSUE, UserAction(user_id=999999, request_id="r-2"))
    assert missing.value.code == "not_found"
    with pytest.raises(RpcError) as bad:
        await wired.client.call(REVOKE, UserAction(user_id=4001, request_id="r-3", days=5))
    assert bad.value.code == "bad_request"


async def test_extend_with_days_grants_them_once(db, wired: Wired) -> None:
    async with db.transaction() as conn:
        await add_user(conn, 4002)
    request = UserAction(user_id=4002, request_id="admin-grant-7", days=7)
    results = await asyncio.gather(*(wired.client.call(EXTEND, request) for _ in range(3)))
    assert len({r.activation_id for r in results}) == 1
    await wired.gateway.settle()
    days = await value(db, "SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM subscriptions "
                           "WHERE user_id = 4002")
    assert days == 7
    assert await value(db, "SELECT access_key IS NOT NULL FROM vpn_accounts WHERE user_id = 4002")


async def test_revoke_ends_the_subscription_and_the_key(db, wired: Wired, outline: OutlineStandIn) -> None:
    await buy(db, 4003, 30)
    await wired.gateway.settle()
    await wired.client.call(REVOKE, UserAction(user_id=4003, request_id="ban-4003"))
    await wired.gateway.settle()
    assert await value(db, "SELECT status FROM subscriptions WHERE user_id = 4003") == "revoked"
    assert await value(db, "SELECT status FROM vpn_accounts WHERE user_id = 4003") == "revoked"
    assert outline.stats()["accounts"] == 0


async def test_nudge_reports_pending(db, wired: Wired) -> None:
    result = await wired.client.call(NUDGE_ACTIVATIONS)
    assert result.pending == 0


async def test_usage_is_fresh_then_cached_then_stale_when_the_panel_is_slow(db, wired: Wired,
                                                                           outline: OutlineStandIn) -> None:
    clock = [1000.0]
    wired.gateway.usage.clock = lambda: clock[0]
    await buy(db, 4004, 30, traffic_gb=50)
    await wired.gateway.settle()
    outline.set_usage("atcs-4004", 12345)
    usage = await wired.client.call(USAGE, UsageQuery(user_id=4004))
    assert usage.used_bytes == 12345 and not usage.stale and usage.limit_bytes == 50 * 1024 ** 3
    assert await value(db, "SELECT used_bytes FROM vpn_accounts WHERE user_id = 4004") == 12345
    # The panel turns slow; past the TTL the figure is still served, fast, marked stale.
    outline.add_fault(route="/metrics/transfer", kind="latency", latency=1.5)
    outline.set_usage("atcs-4004", 99999)
    assert (await wired.client.call(USAGE, UsageQuery(user_id=4004))).used_bytes == 12345   # cached
    clock[0] += 1.0            # past the 0.5 s TTL
    started = time.monotonic()
    usage = await wired.client.call(USAGE, UsageQuery(user_id=4004), timeout=0.8)
    assert time.monotonic() - started < 0.6
    assert usage.stale and usage.used_bytes == 12345
    with pytest.raises(RpcError) as missing:
        await wired.client.call(USAGE, UsageQuery(user_id=4999))
    assert missing.value.code == "not_found"
