"""Error answers in the Outline server's dialect.

The server uses restify, whose errors are ``{"code": ..., "message": ...}``.
For a missing access key the spec (api.yml) documents
``{"code":"NotFoundError","message":"No access key found"}``, which is used
here; the other codes are restify's (InvalidArgument, MissingParameter,
Conflict, ResourceNotFound, InvalidContent, InternalServer).
"""

from __future__ import annotations

import orjson
from aiohttp import web


def restify_error(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"code": code, "message": message}),
        status=status,
        content_type="application/json",
    )


class OutlineError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return restify_error(self.status, self.code, self.message)


def missing(name: str) -> OutlineError:
    return OutlineError(400, "MissingParameter", f"Parameter `{name}` is missing")


def invalid(message: str) -> OutlineError:
    return OutlineError(400, "InvalidArgument", message)


def key_not_found(key_id: str) -> OutlineError:
    return OutlineError(404, "NotFoundError", f"No access key found with id {key_id}")


_FAULT_ERRORS = {429: ("TooManyRequests", "Too Many Requests"), 500: ("InternalServer", "Internal Server Error")}


def fault_error(request: web.Request, status: int) -> web.Response:
    default = ("InternalServer", "Internal Server Error") if status >= 500 else ("BadRequest", "Bad Request")
    code, message = _FAULT_ERRORS.get(status, default)
    return restify_error(status, code, message)
