"""The Crypto Pay API's answer envelope and error names.

Every answer is JSON: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"code": <http status>, "name": "<NAME>"}}`` with the
HTTP status equal to ``code``.

Error names seen from the real API in public client libraries and their docs:
UNAUTHORIZED (401), METHOD_NOT_FOUND (405), EXPIRES_IN_INVALID (400),
AMOUNT_TOO_SMALL (400), METHOD_DISABLED (403), TOO_MANY_REQUESTS (429),
APP_ERROR (500, e.g. when ``accepted_assets`` is sent as a JSON array instead
of a comma-separated string). The official documentation has no list of
error names, so the other validation names below follow the same
``<FIELD>_INVALID`` / ``<FIELD>_TOO_LONG`` pattern and are modelled, not
confirmed; clients should branch on the HTTP status/code, not on the name.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
    def __init__(self, code: int, name: str) -> None:
        super().__init__(f"{code} {name}")
        self.code = code
        self.name = name


def _json(payload: dict, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def ok(result: Any) -> web.Response:
    return _json({"ok": True, "result": result}, 200)


def error(code: int, name: str) -> web.Response:
    return _json({"ok": False, "error": {"code": code, "name": name}}, code)


# Error names used for a status produced by fault injection.
FAULT_NAMES = {429: "TOO_MANY_REQUESTS", 500: "APP_ERROR"}


def fault_error(request: web.Request, status: int) -> web.Response:
    return error(status, FAULT_NAMES.get(status, "APP_ERROR" if status >= 500 else "BAD_REQUEST"))
