"""The HTTP core of the panel clients: retries with backoff on 5xx, 429 honouring Retry-After,
timeouts, and the breaker failing calls fast without touching a down panel."""
from __future__ import annotations

import time

import pytest

from services.vpn_gateway.panels.breaker import CircuitBreaker
from services.vpn_gateway.panels.base import PanelRateLimited, PanelUnavailable
from services.vpn_gateway.panels.outline import OutlineBackend
from services.vpn_gateway.panels.http import PanelHttp

ROUTE = "GET /server"


def client(outline, **kwargs) -> OutlineBackend:
    options = {"retries": 2, "request_timeout": 1.0, **kwargs}
    return OutlineBackend(PanelHttp(server="ol", base_url=outline.api_url, **options))


async def admitted(outline, **kwargs) -> OutlineBackend:
    """A client whose panel version is already checked (a health probe), so that what a test
    counts is the call itself."""
    backend = client(outline, **kwargs)
    assert (await backend.health()).ok
    outline.reset()
    return backend


async def test_5xx_is_retried_within_one_call(outline) -> None:
    backend = await admitted(outline)
    outline.add_fault(route=ROUTE, kind="error", status=502, times=2)
    try:
        assert (await backend.health()).ok is False          # a probe asks once
        assert (await backend.http.request("GET", "/server", route="/server")).status == 200
        assert outline.stats()["requests"][ROUTE] == 3           # probe, then 502 + 200
    finally:
        await backend.close()


async def test_429_waits_out_a_short_retry_after_and_hands_back_a_long_one(outline) -> None:
    backend = await admitted(outline)
    try:
        outline.add_fault(route=ROUTE, kind="rate_limit", retry_after=1, times=1)
        started = time.monotonic()
        await backend.http.request("GET", "/server", route="/server")
        assert time.monotonic() - started >= 0.9
        outline.add_fault(route=ROUTE, kind="rate_limit", retry_after=30, times=1)
        started = time.monotonic()
        with pytest.raises(PanelRateLimited) as limited:
            await backend.http.request("GET", "/server", route="/server")
        assert limited.value.retry_after == 30 and time.monotonic() - started < 1
        outline.add_fault(route=ROUTE, kind="rate_limit", retry_after=30, times=1)
        assert (await backend.health()).ok                     # busy is not down
        assert backend.http.breaker.failures == 0
    finally:
        await backend.close()


async def test_timeouts_and_an_open_breaker_fail_fast(outline) -> None:
    backend = await admitted(outline, retries=0, request_timeout=0.3,
                             breaker=CircuitBreaker(threshold=2, cooldown=30))
    outline.add_fault(route=ROUTE, kind="latency", latency=1.0)
    try:
        for _ in range(2):
            with pytest.raises(PanelUnavailable, match="timed out"):
                await backend.http.request("GET", "/server", route="/server")
        sent = outline.stats()["requests"][ROUTE]
        with pytest.raises(PanelUnavailable, match="circuit open") as open_:
            await backend.http.request("GET", "/server", route="/server")
        assert outline.stats()["requests"][ROUTE] == sent        # the panel was not asked
        assert 29 < open_.value.retry_after <= 30
    finally:
        await backend.close()
