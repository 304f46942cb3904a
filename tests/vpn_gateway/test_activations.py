"""The activation queue against every panel: purchases become keys, renewals extend (never
overwrite), retries after a timeout find the half-made account, failures back off and alert."""
from __future__ import annotations

from datetime import timedelta

from common.db.database import Database
from tests.support.wait import wait_for
from tests.vpn_gateway.support import GB, InProcessGateway, buy, current, fetch, outline_server, value, vpn_settings


async def notices(db: Database, user_id: int) -> list[str]:
    rows = await fetch(db, "SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id", user_id)
    return [r["kind"] for r in rows]


async def test_purchase_gives_a_key_and_tells_the_user(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 1001, 30, traffic_gb=100)
    await gw.settle()
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = 1001"))[0]
    assert account["status"] == "active" and account["external_id"] == "atcs-1001"
    assert account["access_key"] and account["server"] == server["name"]
    assert account["traffic_limit_bytes"] == 100 * GB
    assert standin.stats()["accounts"] == 1
    found = await current(gw.pool.get(server["name"]).backend, "atcs-1001", account["access_key"])
    assert found is not None and found.access_key == account["access_key"]
    assert found.traffic_limit_bytes == 100 * GB
    assert await notices(db, 1001) == ["key_ready"]
    params = await value(db, "SELECT params FROM notifications WHERE user_id = 1001")
    assert "ss://" not in params and "http" not in params   # the key itself is never in a notice


async def test_renewal_extends_the_same_key(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, 1002, 30)
    await gw.settle()
    key_before = await value(db, "SELECT access_key FROM vpn_accounts WHERE user_id = 1002")
    await buy(db, 1002, 90)
    await gw.settle()
    expires = await value(db, "SELECT expires_at FROM subscriptions WHERE user_id = 1002")
    account = (await fetch(db, "SELECT * FROM vpn_accounts WHERE user_id = 1002"))[0]
    assert account["access_key"] == key_before
    assert account["expires_at"] == expires
    found = await current(gw.pool.get(server["name"]).backend, "atcs-1002", key_before)
    assert found.access_key == key_before
    if found.expires_at is not None:       # Remnawave, Marzban, 3x-ui keep expiry themselves: 120 days, not 90
        assert abs(found.expires_at - expires) < timedelta(seconds=1)
    assert standin.stats()["accounts"] == 1
    assert await notices(db, 1002) == ["key_ready", "subscription_extended"]


async def test_retry_after_a_timeout_finds_the_account_the_first_attempt_made(db, gateways, panel) -> None:
    standin, server = panel
    create_route = {"outline": "PUT /access-keys/{id}", "remnawave": "POST /api/users",
                    "marzban": "POST /api/user", "3x-ui": "POST /panel/api/clients/add"}[server["backend"]]
    # The panel makes the account, but answers only after the client gave up.
    standin.add_fault(route=create_route, kind="latency", latency=1.5, times=1)
    gw = InProcessGateway(db, vpn_settings([{**server, "request_timeout": 0.5, "retries": 0}])).start()
    gateways.append(gw)
    await buy(db, 1003, 30)
    await wait_for(lambda: standin.stats()["creates_succeeded"] == 1, timeout=10, message="panel made the account")
    await gw.settle()
    assert await value(db, "SELECT attempts FROM activations WHERE user_id = 1003") >= 2
    assert standin.stats()["accounts"] == 1
    assert standin.stats()["creates_succeeded"] == 1
    assert await notices(db, 1003) == ["key_ready"]


async def test_5xx_and_429_are_retried_until_done(db, gateways, panel) -> None:
    standin, server = panel
    standin.add_fault(route="*", kind="error", status=503, times=3)
    standin.add_fault(route="*", kind="rate_limit", retry_after=1, times=2)
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    for user_id in range(1100, 1105):
        await buy(db, user_id, 30)
    await gw.settle(timeout=30)
    assert standin.stats()["accounts"] == 5
    assert await value(db, "SELECT count(*) FROM vpn_accounts WHERE access_key IS NOT NULL") == 5


async def test_failures_alert_admins_once_and_tell_the_user_it_is_delayed(db, gateways, outline) -> None:
    outline.add_fault(route="*", kind="outage")
    gw = InProcessGateway(db, vpn_settings([outline_server(outline)], vpn_max_attempts=2, vpn_breaker_threshold=100),
                          health=False).start()
    gateways.append(gw)
    await buy(db, 1200, 30)
    await wait_for(lambda: value(db, "SELECT attempts >= 4 FROM activations WHERE user_id = 1200"), timeout=20,
                   message="several failed attempts")
    assert await value(db, "SELECT count(*) FROM admin_alerts WHERE kind = 'activation_delayed'") == 1
    assert await notices(db, 1200) == ["activation_delayed"]
    error = await value(db, "SELECT last_error FROM activations WHERE user_id = 1200")
    assert "ol-1" in error and outline.api_prefix not in error
    outline.clear_faults()
    await gw.settle(timeout=20)
    assert await notices(db, 1200) == ["activation_delayed", "key_ready"]
    assert outline.stats()["accounts"] == 1


async def test_a_users_rows_never_race_each_other(db, gateways, panel) -> None:
    standin, server = panel
    standin.add_fault(route="*", kind="latency", latency=0.2)
    gw = InProcessGateway(db, vpn_settings([server], vpn_worker_concurrency=8))
    gateways.append(gw)
    for _ in range(4):
        await buy(db, 1300, 30)     # one issue, three extends, all due at once
    gw.start()
    await gw.settle(timeout=30)
    assert standin.stats()["accounts"] == 1
    assert standin.stats()["create_attempts"] == 1
    assert await notices(db, 1300) == ["key_ready", "subscription_extended", "subscription_extended",
                                       "subscription_extended"]
