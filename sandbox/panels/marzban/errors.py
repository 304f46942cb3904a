"""Error answers in Marzban's dialect: FastAPI's ``{"detail": ...}``.

``detail`` is a string for HTTPException (401, 403, 404, 409, 400) and a list
of ``{"loc", "msg", "type"}`` for request validation (422). 401 carries
``WWW-Authenticate: Bearer`` like FastAPI's OAuth2PasswordBearer.
"""

from __future__ import annotations

import orjson
from aiohttp import web


class MarzbanError(Exception):
    def __init__(self, status: int, detail: object) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return web.Response(body=orjson.dumps({"detail": self.detail}), status=self.status,
                            content_type="application/json", headers=headers)


def invalid(issues: list[dict]) -> MarzbanError:
    return MarzbanError(422, issues)


def issue(loc: list, msg: str, kind: str = "value_error") -> dict:
    return {"loc": loc, "msg": msg, "type": kind}


NOT_AUTHENTICATED = (401, "Not authenticated")
BAD_TOKEN = (401, "Could not validate credentials")
BAD_LOGIN = (401, "Incorrect username or password")
USER_NOT_FOUND = (404, "User not found")
USER_EXISTS = (409, "User already exists")
BAD_SUB_TOKEN = (400, "Invalid subscription token")
ROUTE_NOT_FOUND = (404, "Not Found")


def fault_error(request: web.Request, status: int) -> web.Response:
    detail = {429: "Too Many Requests"}.get(status, "Internal Server Error" if status >= 500 else "Injected fault")
    return MarzbanError(status, detail).response()
