"""A traffic package on the panel (issue 12.3): the activation row payments writes with the bytes
raises the panel's limit once, on every panel; a panel that is down gets it when it is back; a
renewal afterwards keeps the bought bytes on top of the plan's allowance."""
from __future__ import annotations

from common.contract.outbox import Activation
from common.shop.access import grant_days
from common.shop.outbox import enqueue_activation
from common.shop.traffic import add_package
from tests.support.wait import wait_for
from tests.vpn_gateway.support import GB, InProcessGateway, buy, current, remnawave_server, value, vpn_settings


async def panel_limit_of(gw: InProcessGateway, server: dict, user_id: int) -> int:
    key = await value(gw.db, "SELECT access_key FROM vpn_accounts WHERE user_id = $1", user_id)
    found = await current(gw.pool.get(server["name"]).backend, f"atcs-{user_id}", key)
    assert found is not None
    return found.traffic_limit_bytes


async def package(db, user_id: int, gb: int, key: str) -> int | None:
    async with db.transaction() as conn:
        return await add_package(conn, user_id, gb * GB, key=key)


async def test_a_package_raised_while_the_panel_is_down_lands_once_it_is_back(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server], vpn_breaker_threshold=100), health=False).start()
    gateways.append(gw)
    await buy(db, 3001, 30, traffic_gb=100)
    await gw.settle()
    assert await panel_limit_of(gw, server, 3001) == 100 * GB

    standin.add_fault(route="*", kind="outage")
    assert await package(db, 3001, 10, "purchase:9001") == 110 * GB
    await wait_for(lambda: value(db, "SELECT attempts >= 2 FROM activations WHERE idempotency_key = 'purchase:9001'"),
                   timeout=20, message="the raise tried against the dead panel")
    assert await value(db, "SELECT state FROM activations WHERE idempotency_key = 'purchase:9001'") == "pending"
    standin.clear_faults()
    await gw.settle(timeout=20)
    assert await panel_limit_of(gw, server, 3001) == 110 * GB
    assert await value(db, "SELECT traffic_limit_bytes FROM vpn_accounts WHERE user_id = 3001") == 110 * GB
    assert await value(db, "SELECT count(*) FROM activations WHERE action = 'set_limit'") == 1

    # A renewal sets the plan's allowance again; the package stays on top of it.
    async with db.transaction() as conn:
        await grant_days(conn, 3001, 30, key="purchase:renewal", traffic_limit_bytes=100 * GB)
    await gw.settle()
    assert await panel_limit_of(gw, server, 3001) == 110 * GB


async def test_two_packages_at_once_add_up_and_a_replayed_row_changes_nothing(db, gateways, remnawave) -> None:
    server = remnawave_server(remnawave)
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 3002, 30, traffic_gb=50)
    await gw.settle()
    await package(db, 3002, 10, "purchase:9101")
    await package(db, 3002, 50, "purchase:9102")
    await gw.settle()
    assert await panel_limit_of(gw, server, 3002) == 110 * GB
    updates = remnawave.stats()["requests"].get("PATCH /api/users", 0)
    # The same package's row again (a replayed settlement would be refused before this; the outbox
    # key is the last word): no second row, no second panel call.
    async with db.transaction() as conn:
        assert await enqueue_activation(conn, 3002, Activation.SET_LIMIT, "purchase:9101") is None
    await gw.settle()
    assert remnawave.stats()["requests"].get("PATCH /api/users", 0) == updates
    assert await panel_limit_of(gw, server, 3002) == 110 * GB
