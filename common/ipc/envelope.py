"""The wire format: one orjson frame each way.

request {id, method, deadline, body}; reply {id, ok, result} or {id, ok: false, error: {code, message}}.
`deadline` is absolute (Unix seconds), so a request that waited in a queue is refused, not run late.
"""
from __future__ import annotations

from typing import Any

import orjson


def encode_request(request_id: str, method: str, deadline: float, body: dict[str, Any]) -> bytes:
    return orjson.dumps({"id": request_id, "method": method, "deadline": deadline, "body": body})


def encode_result(request_id: str, result: Any) -> bytes:
    return orjson.dumps({"id": request_id, "ok": True, "result": result})


def encode_error(request_id: str | None, code: str, message: str) -> bytes:
    return orjson.dumps({"id": request_id, "ok": False, "error": {"code": str(code), "message": message}})


def decode(frame: bytes) -> dict[str, Any]:
    value = orjson.loads(frame)
    if not isinstance(value, dict):
        raise ValueError("envelope is not an object")
    return value
