"""Fixtures of the vpn_gateway tests: panel stand-ins, a pool, an in-process gateway, a shop."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from common.db.database import Database
from sandbox.panels.outline import OutlineStandIn
from sandbox.panels.marzban import MarzbanStandIn
from sandbox.panels.remnawave import RemnawaveStandIn
from sandbox.panels.xui import XuiStandIn
from tests.support.database import connected_database
from tests.vpn_gateway.support import (
    MARZBAN_ADMIN, MARZBAN_PASSWORD, REMNAWAVE_TOKEN, InProcessGateway, marzban_server, outline_server,
    XUI_ADMIN, XUI_PASSWORD, remnawave_server, vpn_settings, xui_server,
)


@pytest.fixture
async def outline() -> AsyncIterator[OutlineStandIn]:
    standin = OutlineStandIn()
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def remnawave() -> AsyncIterator[RemnawaveStandIn]:
    standin = RemnawaveStandIn(token=REMNAWAVE_TOKEN)
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def marzban() -> AsyncIterator[MarzbanStandIn]:
    standin = MarzbanStandIn(admin_username=MARZBAN_ADMIN, admin_password=MARZBAN_PASSWORD)
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def xui() -> AsyncIterator[XuiStandIn]:
    standin = XuiStandIn(XUI_ADMIN, XUI_PASSWORD, inbound_id=3)
    await standin.start()
    yield standin
    await standin.stop()


STANDINS: dict[str, Callable[..., Any]] = {
    "outline": lambda **options: OutlineStandIn(**options),
    "remnawave": lambda **options: RemnawaveStandIn(token=REMNAWAVE_TOKEN, **options),
    "marzban": lambda **options: MarzbanStandIn(admin_username=MARZBAN_ADMIN, admin_password=MARZBAN_PASSWORD,
                                                **options),
    "xui": lambda **options: XuiStandIn(XUI_ADMIN, XUI_PASSWORD, inbound_id=3, **options),
}
SERVERS = {"outline": outline_server, "remnawave": remnawave_server, "marzban": marzban_server, "xui": xui_server}


@pytest.fixture
async def make_panel() -> AsyncIterator[Callable[..., Awaitable[tuple[Any, dict[str, Any]]]]]:
    """`await make_panel(kind, tls=True, version="2.8.0")`: a started stand-in of that kind and
    its server entry; stopped at the end of the test."""
    started: list[Any] = []

    async def make(kind: str, **options: Any) -> tuple[Any, dict[str, Any]]:
        standin = STANDINS[kind](**options)
        await standin.start()
        started.append(standin)
        return standin, SERVERS[kind](standin)

    yield make
    for standin in started:
        await standin.stop()


@pytest.fixture(params=["outline", "remnawave", "marzban", "xui"])
def panel(request):
    """(stand-in, server config) for each panel kind."""
    standin = request.getfixturevalue(request.param)
    make = {"outline": outline_server, "remnawave": remnawave_server, "marzban": marzban_server,
            "xui": xui_server}[request.param]
    return standin, make(standin)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with connected_database(database_url, 8, ready_within=15, service="vpn_gateway",
                                  probe_interval=0.5) as database:
        yield database


@pytest.fixture
async def gateways(db: Database) -> AsyncIterator[list[InProcessGateway]]:
    """Gateways a test builds (support.InProcessGateway) are stopped at its end."""
    made: list[InProcessGateway] = []
    yield made
    for gateway in made:
        await gateway.stop()


@pytest.fixture
async def remnawave_gateway(db: Database, gateways: list[InProcessGateway],
                            remnawave: RemnawaveStandIn) -> InProcessGateway:
    """A running gateway whose one panel is the Remnawave stand-in (the panel that lists devices)."""
    gateway = InProcessGateway(db, vpn_settings([remnawave_server(remnawave)])).start()
    gateways.append(gateway)
    return gateway
