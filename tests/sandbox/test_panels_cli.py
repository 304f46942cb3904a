"""``python -m sandbox.panels.outline``, ``python -m sandbox.panels.remnawave`` and
``python -m sandbox.panels.marzban`` run the panel stand-ins as processes."""

from __future__ import annotations

import asyncio

from sandbox.kit.process import StandInProcess
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
