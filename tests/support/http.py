"""The HTTP client session of tests: every request bounded.

aiohttp's default timeout is five minutes, as long as pytest-timeout's: a stand-in that stops
answering would hang the test that long instead of failing it within seconds."""
from __future__ import annotations

from typing import Any

import aiohttp

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)


def client_session(**options: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, **options)
