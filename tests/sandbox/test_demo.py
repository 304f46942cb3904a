"""Demo mode: `python -m sandbox.demo` runs every stand-in in one process, and ops/demo.py points
the services at exactly those stand-ins (same ports, tokens, panel credentials, webhook target)."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import aiohttp
import pytest

from ops.all_settings import LaunchSettings
from services.vpn_gateway.settings import VpnSettings
from ops import demo
from sandbox.kit.process import StandInProcess
from sandbox.kit.sink import HttpSink
from tests.support.ports import free_port

PORT_VARIABLES = ("ATCS_SANDBOX_PORT", "ATCS_SANDBOX_CRYPTOPAY_PORT", "ATCS_SANDBOX_OUTLINE_PORT",
                  "ATCS_SANDBOX_REMNAWAVE_PORT", "ATCS_SANDBOX_MARZBAN_PORT", "ATCS_SANDBOX_XUI_PORT")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("ATCS_") or key == "APP_ENV":
            monkeypatch.delenv(key)
    return monkeypatch


def _free_ports(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    ports = {name: free_port() for name in PORT_VARIABLES}
    for name, port in ports.items():
        monkeypatch.setenv(name, str(port))
    return ports


def _child_env(demo_env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_")}
    return {**base, **demo_env}


def test_defaults_are_the_documented_ports(clean_env) -> None:
    env = demo.environment(LaunchSettings.read())
    assert env["ATCS_TELEGRAM_API_URL"] == "http://127.0.0.1:8090"
    assert env["ATCS_CRYPTOPAY_API_URL"] == "http://127.0.0.1:8091"
    assert demo.web_chat_url() == "http://127.0.0.1:8090/chat"
    servers = {s["backend"]: s["api_url"] for s in json.loads(env["ATCS_VPN_SERVERS"])}
    assert servers == {"outline": f"http://127.0.0.1:8092/{demo.DEMO_OUTLINE_API_PREFIX}",
                       "remnawave": "http://127.0.0.1:8093", "marzban": "http://127.0.0.1:8094",
                       "3x-ui": "http://127.0.0.1:8095"}
    assert env["ATCS_SANDBOX_CRYPTOPAY_WEBHOOK_URL"] == "http://127.0.0.1:8081/webhooks/cryptobot"


def test_environment_follows_the_port_variables_and_settings(clean_env) -> None:
    ports = _free_ports(clean_env)
    clean_env.setenv("ATCS_PAYMENTS_PORT", "18081")
    env = demo.environment(LaunchSettings.read())
    assert {name: int(env[name]) for name in PORT_VARIABLES} == ports
    assert env["ATCS_TELEGRAM_API_URL"].endswith(f":{ports['ATCS_SANDBOX_PORT']}")
    assert env["ATCS_CRYPTOPAY_API_URL"].endswith(f":{ports['ATCS_SANDBOX_CRYPTOPAY_PORT']}")
    assert demo.web_chat_url() == f"http://127.0.0.1:{ports['ATCS_SANDBOX_PORT']}/chat"
    assert env["ATCS_SANDBOX_CRYPTOPAY_WEBHOOK_URL"] == "http://127.0.0.1:18081/webhooks/cryptobot"
    # The services read what the demo wrote: the VPN servers pass the gateway's own validation.
    for key, value in env.items():
        clean_env.setenv(key, value)
    settings = LaunchSettings.read()
    assert demo.enabled(LaunchSettings.read()) is False  # a token is set now: a second `up` adds no second sandbox
    servers = {s.backend: s for s in VpnSettings().servers}
    assert servers["outline"].api_url.get_secret_value().endswith(
        f":{ports['ATCS_SANDBOX_OUTLINE_PORT']}/{demo.DEMO_OUTLINE_API_PREFIX}")
    assert servers["remnawave"].token.get_secret_value() == demo.DEMO_REMNAWAVE_TOKEN
    assert servers["marzban"].api_url.get_secret_value().endswith(f":{ports['ATCS_SANDBOX_MARZBAN_PORT']}")
    assert servers["marzban"].admin_username.get_secret_value() == env["ATCS_SANDBOX_MARZBAN_USERNAME"]
    assert servers["marzban"].admin_password.get_secret_value() == env["ATCS_SANDBOX_MARZBAN_PASSWORD"]
    assert servers["3x-ui"].api_url.get_secret_value().endswith(f":{ports['ATCS_SANDBOX_XUI_PORT']}")
    assert servers["3x-ui"].admin_username.get_secret_value() == env["ATCS_SANDBOX_XUI_USERNAME"]
    assert servers["3x-ui"].admin_password.get_secret_value() == env["ATCS_SANDBOX_XUI_PASSWORD"]
    assert servers["3x-ui"].inbound_id == demo.DEMO_XUI_INBOUND_ID
    assert settings.telegram.admin_ids == [demo.DEMO_ADMIN_ID]


def test_the_banner_lists_every_stand_in(clean_env) -> None:
    ports = _free_ports(clean_env)
    banner = demo.banner(LaunchSettings.read())
    assert demo.web_chat_url() in banner and "log: var/log/sandbox.log" in banner
    for name in ("Telegram", "Crypto Pay", "Outline", "Remnawave", "Marzban", "3x-ui"):
        assert f"{name} http://127.0.0.1:" in banner
    for name, port in ports.items():
        assert f"http://127.0.0.1:{port}" in banner, name
    for secret in (demo.DEMO_OUTLINE_API_PREFIX, demo.DEMO_REMNAWAVE_TOKEN, demo.DEMO_MARZBAN_PASSWORD,
                   demo.DEMO_XUI_PASSWORD):
        assert secret not in banner


def test_sandbox_panel_credentials_default_to_the_demo_and_follow_the_environment() -> None:
    from sandbox.demo import DemoConfig

    config = DemoConfig.from_env({})
    assert (config.marzban_username, config.marzban_password) == (demo.DEMO_MARZBAN_USERNAME,
                                                                  demo.DEMO_MARZBAN_PASSWORD)
    assert (config.xui_username, config.xui_password) == (demo.DEMO_XUI_USERNAME, demo.DEMO_XUI_PASSWORD)
    config = DemoConfig.from_env({"ATCS_SANDBOX_MARZBAN_USERNAME": "m_admin", "ATCS_SANDBOX_MARZBAN_PASSWORD": "m-pw",
                                  "ATCS_SANDBOX_XUI_USERNAME": "x-admin", "ATCS_SANDBOX_XUI_PASSWORD": "x-pw"})
    assert (config.marzban_username, config.marzban_password, config.xui_username, config.xui_password) == (
        "m_admin", "m-pw", "x-admin", "x-pw")


def test_configured_admins_are_kept(clean_env) -> None:
    clean_env.setenv("ATCS_ADMIN_IDS", "42,43")
    env = demo.environment(LaunchSettings.read())
    assert "ATCS_ADMIN_IDS" not in env and env["ATCS_SANDBOX_ADMIN_IDS"] == "42,43"


def test_a_bad_port_variable_is_named(clean_env) -> None:
    clean_env.setenv("ATCS_SANDBOX_OUTLINE_PORT", "eighty")
    with pytest.raises(ValueError, match="ATCS_SANDBOX_OUTLINE_PORT"):
        demo.environment(LaunchSettings.read())


async def test_every_stand_in_answers_as_the_services_are_told_and_sigterm_exits_0(clean_env) -> None:
    _free_ports(clean_env)
    async with HttpSink("/webhooks/cryptobot") as payments:
        # The payments service's webhook is where the Crypto Pay stand-in delivers.
        clean_env.setenv("ATCS_PAYMENTS_PORT", payments.url.rsplit(":", 1)[1])
        env = demo.environment(LaunchSettings.read())
        process = StandInProcess("sandbox.demo", env=_child_env(env), startup_timeout=30)
        info = await process.start()
        try:
            assert info["event"] == "listening" and info["web_chat"] == demo.web_chat_url()
            async with aiohttp.ClientSession() as http:
                # Telegram: the services' token and URL, and the web chat beside it.
                bot_api = f"{env['ATCS_TELEGRAM_API_URL']}/bot{env['ATCS_BOT_TOKEN']}"
                async with http.get(f"{bot_api}/getMe") as response:
                    me = await response.json()
                assert me["ok"] and me["result"]["username"] == demo.DEMO_BOT_USERNAME
                async with http.get(info["web_chat"]) as response:
                    assert response.status == 200 and "/chat/chat.js" in await response.text()
                async with http.get(f"{info['web_chat']}/config.json") as response:
                    personas = (await response.json())["personas"]
                assert demo.DEMO_ADMIN_ID in [p["id"] for p in personas]

                # Crypto Pay: the services' token; an invoice's pay page pays and reaches payments.
                headers = {"Crypto-Pay-API-Token": env["ATCS_CRYPTOPAY_TOKEN"]}
                api = f"{env['ATCS_CRYPTOPAY_API_URL']}/api"
                async with http.post(f"{api}/getMe", headers=headers) as response:
                    assert (await response.json())["ok"]
                body = {"currency_type": "fiat", "fiat": "USD", "amount": "3"}
                async with http.post(f"{api}/createInvoice", headers=headers, json=body) as response:
                    invoice = (await response.json())["result"]
                assert invoice["bot_invoice_url"].startswith(env["ATCS_CRYPTOPAY_API_URL"] + "/pay/")
                async with http.post(invoice["bot_invoice_url"]) as response:
                    assert response.status == 200 and 'id="result"' in await response.text()
                assert await payments.wait_for_requests(1, timeout=10)
                assert json.loads(payments.received[0].body)["payload"]["invoice_id"] == invoice["invoice_id"]

                # VPN panels: exactly the servers vpn_gateway is configured with.
                servers = {s["backend"]: s for s in json.loads(env["ATCS_VPN_SERVERS"])}
                async with http.get(f"{servers['outline']['api_url']}/server") as response:
                    assert response.status == 200 and "serverId" in await response.json()
                remnawave = f"{servers['remnawave']['api_url']}/api/users"
                auth = {"Authorization": f"Bearer {servers['remnawave']['token']}"}
                async with http.get(remnawave, headers=auth) as response:
                    assert response.status == 200
                async with http.get(remnawave, headers={"Authorization": "Bearer wrong"}) as response:
                    assert response.status == 401

                # Marzban: the gateway's admin login gets a bearer token that opens the API.
                marzban = servers["marzban"]
                assert info["marzban"] == marzban["api_url"] and info["xui"] == servers["3x-ui"]["api_url"]
                login = {"username": marzban["admin_username"], "password": marzban["admin_password"]}
                async with http.post(f"{marzban['api_url']}/api/admin/token", data=login) as response:
                    assert response.status == 200
                    token = (await response.json())["access_token"]
                async with http.get(f"{marzban['api_url']}/api/users",
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                    assert response.status == 200 and (await response.json())["total"] == 0
                async with http.post(f"{marzban['api_url']}/api/admin/token",
                                     data={**login, "password": "wrong"}) as response:
                    assert response.status == 401

            # 3x-ui: the gateway's login gets a session cookie (on 127.0.0.1: an IP host) that opens the
            # API, and the inbound new clients go to exists.
            xui = servers["3x-ui"]
            login = {"username": xui["admin_username"], "password": xui["admin_password"], "twoFactorCode": ""}
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.post(f"{xui['api_url']}/login", json={**login, "password": "wrong"}) as response:
                    assert not (await response.json())["success"]
                inbound = f"{xui['api_url']}/panel/api/inbounds/get/{xui['inbound_id']}"
                async with http.get(inbound, allow_redirects=False) as response:
                    assert response.status == 404     # no session: the panel hides its API
                async with http.post(f"{xui['api_url']}/login", json=login) as response:
                    assert response.status == 200 and (await response.json())["success"]
                async with http.get(inbound) as response:
                    answer = await response.json()
                assert answer["success"] and answer["obj"]["id"] == xui["inbound_id"] == demo.DEMO_XUI_INBOUND_ID
        finally:
            returncode = await process.stop()
    assert returncode == 0
    rest = (await process.proc.stdout.read()).decode()
    assert '"event": "stopped"' in rest
    assert "Traceback" not in (await process.proc.stderr.read()).decode()


async def test_a_taken_port_fails_with_a_clear_line(clean_env) -> None:
    _free_ports(clean_env)
    env = demo.environment(LaunchSettings.read())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["ATCS_SANDBOX_OUTLINE_PORT"])))
        taken.listen()
        process = StandInProcess("sandbox.demo", env=_child_env(env), startup_timeout=30)
        info = await process.start()
        assert info["event"] == "start_failed" and info["ports"]["ATCS_SANDBOX_OUTLINE_PORT"] == taken.getsockname()[1]
        assert await asyncio.wait_for(process.proc.wait(), 15) == 1
