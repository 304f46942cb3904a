"""``python -m sandbox.panels.outline``, ``python -m sandbox.panels.remnawave`` and
``python -m sandbox.panels.marzban`` run the panel stand-ins as processes, over http or, with
``--https``, with a self-signed certificate whose SHA-256 they print."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

from services.vpn_gateway.settings import VpnServer
from sandbox.kit.process import StandInProcess
from sandbox.kit.tls import fingerprint
from tests.support.http import client_session


async def test_panel_entry_points():
    outline = StandInProcess("sandbox.panels.outline", "--port", "0", "--api-prefix", "CliSecret")
    remnawave = StandInProcess("sandbox.panels.remnawave", "--port", "0", "--token", "cli-token")
    marzban = StandInProcess("sandbox.panels.marzban", "--port", "0", "--admin-username", "cli_admin",
                             "--admin-password", "cli-pass")
    await asyncio.gather(outline.start(), remnawave.start(), marzban.start())
    try:
        assert outline.info["apiUrl"].endswith("/CliSecret")
        async with client_session() as http:
            async with http.post(f"{outline.info['apiUrl']}/access-keys") as r:
                assert r.status == 201 and (await r.json())["accessUrl"].startswith("ss://")
            async with http.post(
                f"{remnawave.info['api_url']}/users",
                json={"username": "cli_user", "expireAt": "2031-01-01T00:00:00.000Z"},
                headers={"Authorization": "Bearer cli-token"},
            ) as r:
                assert r.status == 201 and (await r.json())["response"]["username"] == "cli_user"
            async with http.get(f"{remnawave.info['url']}/_control/stats") as r:
                assert (await r.json())["accounts"] == 1
            async with http.post(f"{marzban.info['api_url']}/admin/token",
                                 data={"username": "cli_admin", "password": "cli-pass"}) as r:
                token = (await r.json())["access_token"]
            async with http.post(f"{marzban.info['api_url']}/user", json={"username": "cli_user", "proxies": {"vless": {}}},
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and (await r.json())["subscription_url"].startswith("/sub/")
    finally:
        codes = await asyncio.gather(outline.stop(), remnawave.stop(), marzban.stop())
    assert codes == [0, 0, 0]


async def test_over_https_a_panel_prints_its_certificate_as_the_outline_installer_does():
    outline = StandInProcess("sandbox.panels.outline", "--port", "0", "--https", "--api-prefix", "CliSecret")
    remnawave = StandInProcess("sandbox.panels.remnawave", "--port", "0", "--https", "--panel-version", "2.8.0")
    await asyncio.gather(outline.start(), remnawave.start())
    try:
        printed = outline.info
        assert printed["apiUrl"].startswith("https://") and printed["apiUrl"].endswith("/CliSecret")
        host, port = printed["url"].removeprefix("https://").split(":")
        served = await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)), timeout=10)
        assert printed["certSha256"] == fingerprint(served)
        # What the installer prints goes into the gateway's config as it is.
        server = VpnServer.model_validate({"name": "ol-1", "backend": "outline", "api_url": printed["apiUrl"],
                                           "cert_sha256": printed["certSha256"]})
        assert server.cert_sha256 == printed["certSha256"]
        pinned = aiohttp.TCPConnector(ssl=aiohttp.Fingerprint(bytes.fromhex(printed["certSha256"])))
        async with client_session(connector=pinned) as http:
            async with http.post(f"{printed['apiUrl']}/access-keys") as r:
                assert r.status == 201
        assert remnawave.info["url"].startswith("https://") and len(remnawave.info["certSha256"]) == 64
        assert remnawave.info["version"] == "2.8.0"
    finally:
        codes = await asyncio.gather(outline.stop(), remnawave.stop())
    assert codes == [0, 0]
