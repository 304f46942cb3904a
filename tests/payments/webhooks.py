"""Posting webhook updates the way Crypto Pay does, signed here (independently of the sandbox)."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import orjson

from tests.payments.conftest import CRYPTOPAY_TOKEN

HEADER = "crypto-pay-api-signature"


def sign(body: bytes, token: str = CRYPTOPAY_TOKEN) -> str:
    return hmac.new(hashlib.sha256(token.encode()).digest(), body, hashlib.sha256).hexdigest()


def update_body(invoice: dict[str, Any], update_id: int = 1, update_type: str = "invoice_paid") -> bytes:
    return orjson.dumps({"update_id": update_id, "update_type": update_type,
                         "request_date": "2025-01-01T00:00:00.000Z", "payload": invoice})


async def post(url: str, body: bytes, signature: str | None = None, *, headers: dict[str, str] | None = None,
               session: aiohttp.ClientSession | None = None) -> tuple[int, dict[str, Any]]:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if signature is not None:
        all_headers[HEADER] = signature
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.post(url, data=body, headers=all_headers) as response:
            raw = await response.read()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = {"raw": raw.decode(errors="replace")}
            return response.status, data if isinstance(data, dict) else {"raw": data}
    finally:
        if own:
            await session.close()
