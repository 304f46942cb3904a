"""A gateway stops when it is told to, even when a nudge reaches it at the same moment.

Its loops sleep on a wake-up event with a timer. With `asyncio.wait_for` (Python 3.11) a cancel
that arrives in the few loop turns after the event fired was swallowed: the loop went round
again and the shutdown hung (tests/vpn_gateway/test_bulk_reissue.py once hung for pytest-timeout's
300 s on a loaded machine this way)."""
from __future__ import annotations

import asyncio

from common.contract.vpn_gateway import BulkReissue
from tests.support.wait import wait_for
from tests.vpn_gateway.support import InProcessGateway, outline_server, vpn_settings


def parked(event: asyncio.Event) -> bool:
    """A loop is asleep on `event` (the only way to know it from outside: its waiter list)."""
    return bool(event._waiters)  # noqa: SLF001 - the condition this test is about


async def test_the_worker_stops_when_cancelled_as_a_nudge_wakes_it(db, gateways, outline) -> None:
    gw = InProcessGateway(db, vpn_settings([outline_server(outline)], vpn_scan_interval=30.0),
                          health=False).start()
    gateways.append(gw)
    await wait_for(lambda: parked(gw.worker.wake), timeout=10, message="the activation worker asleep on its wake-up")
    gw.worker.nudge()
    await gw.stop(timeout=5)


async def test_bulk_reissue_stops_when_cancelled_as_a_job_wakes_it(db, gateways, outline) -> None:
    gw = InProcessGateway(db, vpn_settings([outline_server(outline)], vpn_scan_interval=30.0), health=False)
    gw.bulk.interval = 30.0
    gateways.append(gw.start())
    await wait_for(lambda: parked(gw.bulk.wake), timeout=10, message="the bulk reissue loop asleep on its wake-up")
    await gw.rpc.bulk_reissue(BulkReissue(admin_id=1, request_id="stop-while-woken"))   # sets its wake-up
    await gw.stop(timeout=5)
