"""Each backend reads its panel's version at every health probe (and before the first call),
and refuses a panel outside the versions it supports: the server is not ready with a reason
naming both versions, and nothing is sent to it but the version check itself."""
from __future__ import annotations

import pytest

from tests.support.wait import wait_for
from tests.vpn_gateway.support import InProcessGateway, buy, fetch, vpn_settings

# (kind, a version its backend must refuse, the range its reason names)
OUTSIDE = [
    ("remnawave", "2.8.0", ">= 3.2.0, < 4.0.0"),        # users by uuid: the 3.x calls do not fit
    ("outline", "1.7.2", ">= 1.7.3, < 2.0.0"),          # before GET/PUT /access-keys/{id}
    ("marzban", "0.9.0", ">= 0.8.0, < 0.9.0"),          # a minor not checked (pre-1.0: minors break)
    ("xui", "3.8.0", ">= 3.6.0, < 3.7.0"),              # adds client fields our whole-client updates would reset
]
USERS = range(6800, 6804)


def creates(standin) -> int:
    return standin.stats()["create_attempts"]


@pytest.mark.parametrize("kind, version, supported", OUTSIDE, ids=[k for k, _, _ in OUTSIDE])
async def test_a_panel_of_an_unsupported_version_is_refused_naming_both(db, gateways, make_panel, kind: str,
                                                                          version: str, supported: str) -> None:
    standin, server = await make_panel(kind, version=version)
    name = server["name"]
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    for user_id in USERS:
        await buy(db, user_id, 30)
    gw.worker.nudge()
    await wait_for(lambda: gw.pool.get(name).refused, timeout=10, message=f"the {version} panel refused")
    ready, reason = gw.pool.readiness()
    assert not ready
    assert reason.startswith(f"{name}: panel version {version} is not supported"), reason
    assert supported in reason
    assert gw.pool.describe()[name]["panel_version"] == version
    await gw.worker.drain(grace=5)        # whatever was in flight has ended
    assert creates(standin) == 0 and standin.stats()["accounts"] == 0
    assert await fetch(db, "SELECT 1 FROM vpn_accounts WHERE access_key IS NOT NULL") == []


async def test_a_remnawave_upgraded_to_2x_is_refused_at_the_next_probe_and_welcomed_back(db, gateways,
                                                                                           make_panel) -> None:
    remnawave, server = await make_panel("remnawave")
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await buy(db, USERS[0], 30)
    await gw.settle()
    assert gw.pool.describe()["rw-1"]["panel_version"] == "3.2.3"

    remnawave.version = "2.8.0"                   # the operator "upgraded" it to another major
    await wait_for(lambda: gw.pool.get("rw-1").refused, timeout=10, message="the 2.8.0 panel refused")
    assert "panel version 2.8.0" in gw.pool.readiness()[1] and ">= 3.2.0, < 4.0.0" in gw.pool.readiness()[1]
    sent = remnawave.stats()["requests"]
    await buy(db, USERS[0], 30)                   # a renewal for a user on it
    await buy(db, USERS[1], 30)                   # and a new user: no server takes them now
    gw.worker.nudge()
    await wait_for(lambda: _failed_attempts(db), timeout=10, message="both purchases tried and held back")
    touched = {route for route, count in remnawave.stats()["requests"].items() if count != sent.get(route)}
    assert touched <= {"GET /api/system/metadata"}, touched      # only the version check reached it

    remnawave.version = "3.2.4"                   # back on a supported version
    await gw.settle(timeout=30)
    assert gw.pool.readiness() == (True, "")
    assert remnawave.stats()["accounts"] == 2


async def test_a_remnawave_that_will_not_say_its_version_is_refused(db, gateways, make_panel) -> None:
    remnawave, server = await make_panel("remnawave")
    remnawave.add_fault(route="GET /api/system/metadata", kind="error", status=403)   # a token without the right
    gw = InProcessGateway(db, vpn_settings([server])).start()
    gateways.append(gw)
    await wait_for(lambda: gw.pool.get("rw-1").refused, timeout=10, message="the silent panel refused")
    reason = gw.pool.readiness()[1]
    assert reason.startswith("rw-1: the panel does not report its version") and ">= 3.2.0, < 4.0.0" in reason


async def _failed_attempts(db) -> bool:
    rows = await fetch(db, "SELECT attempts FROM activations WHERE state <> 'done'")
    return len(rows) == 2 and all(r["attempts"] >= 1 for r in rows)
