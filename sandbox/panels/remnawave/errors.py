"""Error answers in the Remnawave panel's dialect (v3.2.3 spec).

Business errors: ``{"timestamp", "path", "message", "errorCode"}`` with the
panel's ``Axxx`` codes (RemnawaveBadRequestErrorDto / NotFound / InternalServer).
Validation errors: see ``validation.py``. Auth and unknown routes come from
NestJS itself (``{"message", "statusCode"[, "error"]}``); the spec does not
document them.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from sandbox.kit.clock import iso_ms, Clock


def json_error(status: int, payload: dict) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


class RemnawaveError(Exception):
    def __init__(self, status: int, message: str, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code

    def response(self, request: web.Request, clock: Clock) -> web.Response:
        return json_error(
            self.status,
            {"timestamp": iso_ms(clock.now()), "path": request.path, "message": self.message, "errorCode": self.error_code},
        )


USER_NOT_FOUND = (404, "User not found", "A025")
USER_NOT_FOUND_BY_PARAMS = (404, "User with specified params not found", "A063")
USERNAME_TAKEN = (400, "User username already exists", "A019")
SHORT_UUID_TAKEN = (400, "User short UUID already exists", "A020")
ALREADY_DISABLED = (400, "User already disabled", "A029")
ALREADY_ENABLED = (400, "User already enabled", "A030")


def unauthorized() -> web.Response:
    return json_error(401, {"message": "Unauthorized", "statusCode": 401})


def route_not_found(request: web.Request) -> web.Response:
    return json_error(
        404, {"message": f"Cannot {request.method} {request.path}", "error": "Not Found", "statusCode": 404}
    )


def fault_error(request: web.Request, status: int, clock: Clock) -> web.Response:
    if status == 429:
        return json_error(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"})
    if status >= 500:
        return json_error(
            status,
            {"timestamp": iso_ms(clock.now()), "path": request.path, "message": "Server error", "errorCode": "A001"},
        )
    return json_error(status, {"statusCode": status, "message": f"Injected fault: HTTP {status}"})
