"""The web chat's files are served by the Telegram stand-in (in-process and `python -m sandbox.telegram
--web-chat`); its behaviour in a browser is tested in test_webchat_browser.py."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.kit.process import StandInProcess
from sandbox.telegram import TelegramStandIn
from sandbox.webchat import Persona, WebChatConfig


async def test_page_assets_and_config_are_served() -> None:
    config = WebChatConfig(personas=(Persona(id=9, first_name="Admin", label="Admin 9"),))
    async with TelegramStandIn(web_chat=config) as standin, aiohttp.ClientSession() as http:
        assert standin.web_chat_url == f"{standin.url}/chat"
        async with http.get(standin.web_chat_url) as response:
            page = await response.text()
            assert response.status == 200 and response.content_type == "text/html"
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert '<script src="/chat/chat.js"' in page and "/chat/chat.css" in page
        for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
            async with http.get(f"{standin.web_chat_url}/{name}") as response:
                assert response.status == 200 and response.content_type == kind
                assert len(await response.read()) > 1000
        async with http.get(f"{standin.web_chat_url}/config.json") as response:
            data = await response.json()
        assert [p["id"] for p in data["personas"]] == [config.default_user.id, 9]
        async with http.get(f"{standin.web_chat_url}/secrets.py") as response:
            assert response.status == 404
        async with http.get(f"{standin.web_chat_url}/?user=5", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/chat?user=5"


async def test_without_web_chat_there_is_no_page() -> None:
    async with TelegramStandIn() as standin, aiohttp.ClientSession() as http:
        assert standin.web_chat_url is None
        async with http.get(f"{standin.url}/chat") as response:
            assert response.status == 404


def test_personas_have_positive_ids() -> None:
    with pytest.raises(ValueError):
        Persona(id=0, first_name="Nobody")


async def test_entry_point_serves_the_web_chat() -> None:
    async with StandInProcess("sandbox.telegram", "--port", "0", "--web-chat") as process:
        url = process.info["web_chat_url"]
        assert url == f"{process.info['url']}/chat"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
    assert process.proc.returncode == 0
