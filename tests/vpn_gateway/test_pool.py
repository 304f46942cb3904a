"""The server pool: new users go to the least-loaded healthy server with room; health and
breakers show in status without a URL or token in sight."""
from __future__ import annotations

import orjson

from services.vpn_gateway.panels.pool import ServerPool
from tests.vpn_gateway.support import (
    REMNAWAVE_TOKEN, InProcessGateway, buy, fetch, outline_server, remnawave_server, vpn_settings,
)
from tests.support.wait import wait_for


def pool_of(servers: list[dict]) -> ServerPool:
    return ServerPool.from_settings(vpn_settings(servers))


async def test_least_loaded_by_capacity_and_weight(outline, remnawave) -> None:
    pool = pool_of([outline_server(outline, "a", capacity=100), remnawave_server(remnawave, "b", capacity=1000),
                    outline_server(outline, "c", capacity=10, accepts_new=False)])
    try:
        assert pool.choose({"a": 10, "b": 50}).name == "b"        # 10% vs 5%
        assert pool.choose({"a": 1, "b": 50}).name == "a"         # 1% vs 5%
        assert pool.choose({"a": 100, "b": 1000}) is None         # both full; c takes no new users
        weighted = pool_of([outline_server(outline, "a", capacity=100, weight=4),
                            outline_server(outline, "b", capacity=100)])
        assert weighted.choose({"a": 30, "b": 10}).name == "a"     # 0.3/4 < 0.1
        await weighted.close()
    finally:
        await pool.close()


async def test_unhealthy_or_open_servers_take_no_new_users(outline, remnawave) -> None:
    pool = pool_of([outline_server(outline, "a"), remnawave_server(remnawave, "b")])
    try:
        outline.add_fault(route="*", kind="outage")
        await pool.probe_all(timeout=2)
        assert pool.get("a").healthy is False and pool.get("b").healthy is True
        assert pool.choose({"a": 0, "b": 500}).name == "b"
        for _ in range(pool.get("b").breaker.threshold):
            pool.get("b").breaker.record_failure()
        assert pool.choose({}) is None
        assert pool.retry_in() > 0
        outline.clear_faults()
        recovered: list[str] = []
        pool.on_recover(lambda server: recovered.append(server.name))
        await pool.probe_all(timeout=2)
        assert pool.get("a").healthy and "a" in recovered
        assert "b" in recovered                                    # its probe closed the breaker
        status = orjson.dumps(pool.describe()).decode()
        assert outline.api_prefix not in status and REMNAWAVE_TOKEN not in status
        assert pool.describe()["b"]["breaker"]["state"] == "closed"
    finally:
        await pool.close()


async def test_new_users_spread_over_servers(db, gateways, outline, remnawave) -> None:
    gw = InProcessGateway(db, vpn_settings([outline_server(outline, "a", capacity=10),
                                            remnawave_server(remnawave, "b", capacity=10)]))
    gateways.append(gw)
    gw.start()
    await wait_for(lambda: all(s.healthy for s in gw.pool), timeout=5, message="servers probed")
    for user_id in range(3000, 3012):
        await buy(db, user_id, 30)
        gw.worker.nudge()
    await gw.settle()
    rows = await fetch(db, "SELECT server, count(*) AS n FROM vpn_accounts GROUP BY server")
    assert {r["server"]: r["n"] for r in rows} == {"a": 6, "b": 6}
    assert outline.stats()["accounts"] == 6 and remnawave.stats()["accounts"] == 6


async def test_a_slow_panel_holds_only_its_own_share_of_the_worker(db, gateways, outline, remnawave) -> None:
    from common.contract.outbox import Activation
    from common.shop.outbox import enqueue_activation
    from tests.vpn_gateway.support import value

    gw = InProcessGateway(db, vpn_settings([outline_server(outline, "slow", max_concurrency=2, capacity=6),
                                            remnawave_server(remnawave, "fast", max_concurrency=2, capacity=6)],
                                           vpn_worker_concurrency=4))
    gateways.append(gw)
    gw.start()
    for user_id in range(3100, 3112):
        await buy(db, user_id, 30)
    await gw.settle()
    outline.add_fault(route="*", kind="latency", latency=3.0)
    async with db.transaction() as conn:
        for user_id in range(3100, 3112):
            await enqueue_activation(conn, user_id, Activation.REISSUE, f"slow-test:{user_id}")
    gw.worker.nudge()
    fast_done = """SELECT count(*) FROM activations a JOIN vpn_accounts v USING (user_id)
                   WHERE a.action = 'reissue' AND a.state = 'done' AND v.server = $1"""

    async def fast_finished() -> bool:
        return await value(db, fast_done, "fast") == 6

    await wait_for(fast_finished, timeout=2.5, message="the fast server's rows done while the slow one is busy")
    assert await value(db, fast_done, "slow") == 0
