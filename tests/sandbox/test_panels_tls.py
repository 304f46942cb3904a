"""Every panel stand-in can serve https with a self-signed certificate made at start, as a real
Outline server does (and 3x-ui and Marzban panels often are): a client pinning its SHA-256
reaches it, one verifying it against the system CAs does not."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest

from sandbox.kit.tls import fingerprint
from sandbox.panels.marzban import MarzbanStandIn
from sandbox.panels.outline import OutlineStandIn
from sandbox.panels.remnawave import RemnawaveStandIn
from sandbox.panels.xui import XuiStandIn
from tests.support.http import client_session

STANDINS = {"outline": OutlineStandIn, "remnawave": RemnawaveStandIn, "marzban": MarzbanStandIn, "xui": XuiStandIn}


async def served_certificate(url: str) -> str:
    host, port = url.removeprefix("https://").split(":")
    return await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)), timeout=10)


@pytest.mark.parametrize("kind", STANDINS)
async def test_a_stand_in_serves_https_with_its_own_certificate(kind: str) -> None:
    async with STANDINS[kind](tls=True) as first, STANDINS[kind](tls=True) as second:
        assert first.url.startswith("https://")
        assert len(first.cert_sha256) == 64 and first.cert_sha256 == first.cert_sha256.upper()
        assert fingerprint(await served_certificate(first.url)) == first.cert_sha256
        assert first.cert_sha256 != second.cert_sha256          # made at start, one per server
        pinned = aiohttp.TCPConnector(ssl=aiohttp.Fingerprint(bytes.fromhex(first.cert_sha256)))
        async with client_session(connector=pinned) as http:
            async with http.get(f"{first.url}/_control/stats") as response:
                assert response.status == 200 and (await response.json())["accounts"] == 0
        async with client_session() as http:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with http.get(f"{first.url}/_control/stats"):
                    pass


async def test_a_plain_stand_in_has_no_certificate() -> None:
    async with OutlineStandIn() as outline:
        assert outline.url.startswith("http://") and outline.access() == {"apiUrl": outline.api_url}
        with pytest.raises(RuntimeError, match="tls=True"):
            _ = outline.cert_sha256
