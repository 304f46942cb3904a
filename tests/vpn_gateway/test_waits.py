"""A test that waits holds to its own bound: a check that hangs is cut at the deadline, and a
wait on a gateway process that has exited fails at once, saying why."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.wait import wait_for
from tests.vpn_gateway.support import GatewayProcess

# Outer bound of these tests: what they prove must happen well inside it.
GUARD = 8.0


async def test_a_check_that_never_returns_ends_at_the_deadline() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()        # an RPC to a process that is gone, say
        return True

    started = time.monotonic()
    async with asyncio.timeout(GUARD):
        with pytest.raises(AssertionError, match="the queue drained not met within 0.5s") as failed:
            await wait_for(hangs, timeout=0.5, message="the queue drained")
    assert time.monotonic() - started < 2
    assert "still running at the deadline" in str(failed.value)


async def test_waiting_on_a_gateway_that_exited_fails_at_once(database_url: str) -> None:
    gateway = GatewayProcess(database_url, [{"name": "bad", "backend": "no-such-panel"}])
    try:
        gateway.start()
        started = time.monotonic()
        async with asyncio.timeout(GUARD):
            with pytest.raises(AssertionError, match="gave up waiting: vpn_gateway exited") as failed:
                await gateway.wait_ready(timeout=30)
        assert time.monotonic() - started < GUARD
        assert "ATCS_VPN_SERVERS is invalid" in str(failed.value)      # the log says why
    finally:
        gateway.close()
