"""Fixtures of the vpn_gateway tests: panel stand-ins, a pool, an in-process gateway, a shop."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from common.db.database import Database
from sandbox.panels.outline import OutlineStandIn
from sandbox.panels.remnawave import RemnawaveStandIn
from tests.vpn_gateway.support import REMNAWAVE_TOKEN, InProcessGateway


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
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, 8, service="vpn_gateway", probe_interval=0.5)
    keeper = asyncio.create_task(database.keep_connected())
    assert await database.wait_ready(15), database.last_error
    yield database
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)
    await database.close()


@pytest.fixture
async def gateways(db: Database) -> AsyncIterator[list[InProcessGateway]]:
    """Gateways a test builds (support.InProcessGateway) are stopped at its end."""
    made: list[InProcessGateway] = []
    yield made
    for gateway in made:
        await gateway.stop()
