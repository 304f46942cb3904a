"""Device limits (issue 13.3): the plan's device count reaches the panel at activation, stays at
renewal, changes with a plan change (through the activation outbox), and the user's devices are
listed and one removed, on the panels that can; the others say what they cannot do."""
from __future__ import annotations

import pytest

from common.contract.base import RpcErrorCode
from common.contract.outbox import Activation
from common.contract.vpn_gateway import DevicesQuery, RemoveDevice
from common.db.database import Database
from common.ipc.errors import RpcError
from common.shop.outbox import enqueue_activation
from sandbox.panels.remnawave.hwid import DeviceLimitReached
from services.payments.repositories import plan_changes
from services.vpn_gateway.rpc.devices import DeviceRpc
from tests.vpn_gateway.support import (
    InProcessGateway, add_user, buy, fetch, remnawave_user, value, vpn_settings, xui_server,
)

GB = 1024 ** 3


async def plan(db: Database, code: str) -> tuple[int, int]:
    row = (await fetch(db, "SELECT id, device_limit FROM plans WHERE code = $1", code))[0]
    return row["id"], row["device_limit"]


async def change_plan(db: Database, user_id: int, code: str, change_key: str) -> None:
    """What payments writes when a plan change completes (plan_changes._complete): the
    subscription switched to the new plan and an EXTEND activation, in one transaction."""
    plan_id, _ = await plan(db, code)
    async with db.transaction() as conn:
        await plan_changes.switch(conn, user_id, plan_id=plan_id, days=20, free_seconds=0, traffic_limit_bytes=0)
        await enqueue_activation(conn, user_id, Activation.EXTEND, change_key, {"reason": "plan_change"})


async def test_remnawave_limit_at_activation_kept_by_renewal_changed_by_plan_change(
        db, remnawave, remnawave_gateway) -> None:
    _, month_limit = await plan(db, "month_1")
    _, half_year_limit = await plan(db, "month_6")
    assert month_limit != half_year_limit and month_limit > 1

    await buy(db, 8101, key="purchase:8101:1", plan="month_1")
    await remnawave_gateway.settle()
    user = remnawave_user(remnawave, "atcs-8101")
    assert user["hwidDeviceLimit"] == month_limit
    remnawave.connect_device(user["id"], "hwid-phone", platform="Android", model="Pixel 8")
    remnawave.connect_device(user["id"], "hwid-laptop", platform="Windows")

    await buy(db, 8101, key="purchase:8101:2", plan="month_1")          # renewal of the same plan
    await remnawave_gateway.settle()
    user = remnawave_user(remnawave, "atcs-8101")
    assert user["hwidDeviceLimit"] == month_limit
    assert [d["hwid"] for d in remnawave.devices(user["id"])] == ["hwid-phone", "hwid-laptop"]

    await change_plan(db, 8101, "month_6", "change:8101")
    await remnawave_gateway.settle()
    assert remnawave_user(remnawave, "atcs-8101")["hwidDeviceLimit"] == half_year_limit
    assert await value(db, "SELECT device_limit FROM subscriptions WHERE user_id = 8101") == half_year_limit
    # Neither renewal nor plan change forgot a device: nothing but the user removes one.
    assert [d["hwid"] for d in remnawave.devices(user["id"])] == ["hwid-phone", "hwid-laptop"]
    requests = remnawave.stats()["requests"]
    assert "POST /api/hwid/devices/delete-all" not in requests and "POST /api/hwid/devices/delete" not in requests


async def test_a_limit_changed_on_the_panel_is_written_back_at_the_next_renewal(
        db, remnawave, remnawave_gateway) -> None:
    await buy(db, 8102, key="purchase:8102:1", plan="month_1")
    await remnawave_gateway.settle()
    user = remnawave_user(remnawave, "atcs-8102")
    remnawave.users.update(remnawave.users.by_id(user["id"]), {"hwidDeviceLimit": None})   # the panel's fallback
    await buy(db, 8102, key="purchase:8102:2", plan="month_1")
    await remnawave_gateway.settle()
    assert remnawave_user(remnawave, "atcs-8102")["hwidDeviceLimit"] == (await plan(db, "month_1"))[1]


async def test_xui_limit_ip_at_activation_kept_by_renewal_changed_by_plan_change(db, gateways, xui) -> None:
    _, month_limit = await plan(db, "month_1")
    _, half_year_limit = await plan(db, "month_6")
    gw = InProcessGateway(db, vpn_settings([xui_server(xui)])).start()
    gateways.append(gw)
    await buy(db, 8201, key="purchase:8201:1", plan="month_1")
    await gw.settle()
    assert xui.client("atcs-8201")["limitIp"] == month_limit
    await buy(db, 8201, key="purchase:8201:2", plan="month_1")
    await gw.settle()
    assert xui.client("atcs-8201")["limitIp"] == month_limit
    await change_plan(db, 8201, "month_6", "change:8201")
    await gw.settle()
    assert xui.client("atcs-8201")["limitIp"] == half_year_limit

    desk = DeviceRpc(db, gw.pool, timeout=1.0)
    devices = await desk.devices(DevicesQuery(user_id=8201))
    # 3x-ui limits source IPs and has no device list: the bot shows the limit and nothing to remove.
    assert devices.support == "limit_only" and devices.limit == half_year_limit and devices.devices == []
    with pytest.raises(RpcError) as refused:
        await desk.remove(RemoveDevice(user_id=8201, device_id="anything"))
    assert refused.value.code == RpcErrorCode.CONFLICT


async def test_a_user_removes_a_device_and_a_new_one_takes_its_place(db, remnawave, remnawave_gateway) -> None:
    await buy(db, 8301, key="purchase:8301:1", plan="month_1")
    await remnawave_gateway.settle()
    user = remnawave_user(remnawave, "atcs-8301")
    limit = user["hwidDeviceLimit"]
    for n in range(limit):
        remnawave.connect_device(user["id"], f"hwid-{n}", platform="iOS", model=f"iPhone {n}")
    with pytest.raises(DeviceLimitReached):
        remnawave.connect_device(user["id"], "hwid-new")               # no room: the panel refuses it

    desk = DeviceRpc(db, remnawave_gateway.pool, timeout=1.0)
    listed = await desk.devices(DevicesQuery(user_id=8301))
    assert listed.support == "listed" and listed.limit == limit
    assert [(d.device_id, d.platform, d.model) for d in listed.devices] == \
        [(f"hwid-{n}", "iOS", f"iPhone {n}") for n in range(limit)]

    removed = await desk.remove(RemoveDevice(user_id=8301, device_id="hwid-0"))
    assert removed.removed and [d.device_id for d in removed.devices.devices] == [f"hwid-{n}" for n in range(1, limit)]
    remnawave.connect_device(user["id"], "hwid-new")                   # its place is free now
    assert "hwid-new" in [d["hwid"] for d in remnawave.devices(user["id"])]

    again = await desk.remove(RemoveDevice(user_id=8301, device_id="hwid-0"))   # a second tap
    assert not again.removed and len(again.devices.devices) == limit


async def test_devices_of_panels_without_limits_and_of_users_without_accounts(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    desk = DeviceRpc(db, gw.pool, timeout=1.0)
    async with db.transaction() as conn:
        await add_user(conn, 8401)
    assert (await desk.devices(DevicesQuery(user_id=8401))).support == "no_account"
    await buy(db, 8401, key="purchase:8401:1", plan="month_1")
    await gw.settle()
    expected = {"outline": "none", "marzban": "none", "remnawave": "listed", "3x-ui": "limit_only"}
    answer = await desk.devices(DevicesQuery(user_id=8401))
    assert answer.support == expected[server["backend"]] and answer.limit == (await plan(db, "month_1"))[1]


async def test_a_slow_panel_is_a_quick_try_again_not_a_hang(db, remnawave, remnawave_gateway) -> None:
    await buy(db, 8501, key="purchase:8501:1", plan="month_1")
    await remnawave_gateway.settle()
    remnawave.add_fault(route="GET /api/hwid/devices/{userId}", kind="latency", latency=5.0)
    desk = DeviceRpc(db, remnawave_gateway.pool, timeout=0.3)
    with pytest.raises(RpcError) as slow:                              # not the panel's 5 s: its own bound
        await desk.devices(DevicesQuery(user_id=8501))
    assert slow.value.code == RpcErrorCode.UNAVAILABLE
    remnawave.clear_faults()
    remnawave.add_fault(route="POST /api/hwid/devices/delete", kind="error", status=500)
    remnawave.connect_device(remnawave_user(remnawave, "atcs-8501")["id"], "hwid-a")
    with pytest.raises(RpcError) as failed:
        await DeviceRpc(db, remnawave_gateway.pool, timeout=1.0).remove(RemoveDevice(user_id=8501, device_id="hwid-a"))
    assert failed.value.code == RpcErrorCode.UNAVAILABLE
    assert [d["hwid"] for d in remnawave.devices(remnawave_user(remnawave, "atcs-8501")["id"])] == ["hwid-a"]
