"""Request validation of the Remnawave stand-in, answering like the panel.

The panel validates bodies with zod (nestjs-zod) and answers
``400 {"message": "Validation failed", "statusCode": 400, "errors": [...]}``
with one issue per problem: ``{"validation", "code", "message", "path"}``.
Unknown fields are dropped (zod's default), not rejected. Only the rules of
the fields in the create/update/revoke/extend bodies are implemented; they
follow ``CreateUserBodyDto`` etc. of the v3.2.3 spec.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Optional

USER_STATUSES = ("ACTIVE", "DISABLED", "LIMITED", "EXPIRED")
STRATEGIES = ("NO_RESET", "DAY", "WEEK", "MONTH", "MONTH_ROLLING")
_USERNAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_TAG = re.compile(r"^[A-Z0-9_]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


class ValidationFailed(Exception):
    def __init__(self, issues: list[dict]) -> None:
        super().__init__("Validation failed")
        self.issues = issues

    def body(self) -> dict:
        return {"message": "Validation failed", "statusCode": 400, "errors": self.issues}


class _Checker:
    def __init__(self, body: Any) -> None:
        self.issues: list[dict] = []
        if not isinstance(body, dict):
            self.fail([], "invalid_type", "Expected object, received " + type(body).__name__, "type")
            body = {}
        self.body = body
        self.out: dict = {}

    def fail(self, path: list, code: str, message: str, validation: str) -> None:
        self.issues.append({"validation": validation, "code": code, "message": message, "path": [str(p) for p in path]})

    def field(
        self,
        name: str,
        check: Callable[[Any], Optional[str]],
        *,
        required: bool = False,
        nullable: bool = False,
        convert: Callable[[Any], Any] = lambda v: v,
    ) -> None:
        if name not in self.body:
            if required:
                self.fail([name], "invalid_type", "Required", "required")
            return
        value = self.body[name]
        if value is None:
            if nullable:
                self.out[name] = None
            else:
                self.fail([name], "invalid_type", "Expected value, received null", "type")
            return
        problem = check(value)
        if problem:
            self.fail([name], "invalid_string" if isinstance(value, str) else "invalid_type", problem, "format")
        else:
            self.out[name] = convert(value)

    def done(self) -> dict:
        if self.issues:
            raise ValidationFailed(self.issues)
        return self.out


# ---- single-value checks: return a message, or None when fine --------------
def _string(min_len: int = 0, max_len: int = 10**9, pattern: Optional[re.Pattern] = None):
    def check(value: Any) -> Optional[str]:
        if not isinstance(value, str):
            return "Expected string"
        if not min_len <= len(value) <= max_len:
            return f"String must contain between {min_len} and {max_len} character(s)"
        if pattern is not None and not pattern.match(value):
            return "Invalid"
        return None

    return check


def _enum(options: tuple[str, ...]):
    def check(value: Any) -> Optional[str]:
        return None if value in options else f"Invalid enum value. Expected {' | '.join(options)}"

    return check


def _number(minimum: float = 0, integer: bool = False):
    def check(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "Expected number"
        if integer and not float(value).is_integer():
            return "Expected integer"
        if value < minimum:
            return f"Number must be greater than or equal to {minimum}"
        return None

    return check


def _datetime(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not _DATETIME.match(value):
        return "Invalid datetime"
    try:
        parse_datetime(value)
    except ValueError:
        return "Invalid datetime"
    return None


def _uuid_list(value: Any) -> Optional[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _UUID.match(v) for v in value):
        return "Expected array of UUIDs"
    return None


def parse_datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _common_user_fields(c: _Checker, *, expire_required: bool) -> None:
    c.field("trafficLimitBytes", _number(0), convert=int)
    c.field("trafficLimitStrategy", _enum(STRATEGIES))
    c.field("expireAt", _datetime, required=expire_required, convert=parse_datetime)
    c.field("tag", _string(0, 16, _TAG), nullable=True)
    c.field("telegramId", _number(-(2**63), integer=True), nullable=True, convert=int)
    c.field("email", _string(3, 254, _EMAIL), nullable=True)
    c.field("hwidDeviceLimit", _number(0, integer=True), nullable=True, convert=int)
    c.field("activeInternalSquads", _uuid_list)
    c.field("externalSquadUuid", _string(36, 36, _UUID), nullable=True)


def create_user_body(body: Any) -> dict:
    c = _Checker(body)
    c.field("username", _string(3, 36, _USERNAME), required=True)
    c.field("status", _enum(USER_STATUSES))
    c.field("shortUuid", _string(1))
    c.field("trojanPassword", _string(8, 32))
    c.field("vlessUuid", _string(36, 36, _UUID))
    c.field("ssPassword", _string(8, 32))
    c.field("createdAt", _datetime, convert=parse_datetime)
    c.field("lastTrafficResetAt", _datetime, convert=parse_datetime)
    c.field("description", _string())
    _common_user_fields(c, expire_required=True)
    return c.done()


def update_user_body(body: Any) -> dict:
    c = _Checker(body)
    c.field("username", _string(1))
    c.field("id", _number(1, integer=True), convert=int)
    c.field("status", _enum(("ACTIVE", "DISABLED")))
    _common_user_fields(c, expire_required=False)
    if not c.issues and "username" not in c.out and "id" not in c.out:
        c.fail([], "custom", "Either id or username must be provided", "custom")
    return c.done()


def revoke_body(body: Any) -> dict:
    c = _Checker({} if body is None else body)
    c.field("revokeOnlyPasswords", lambda v: None if isinstance(v, bool) else "Expected boolean")
    c.field("shortUuid", _string(16, 64))
    return c.done()


def extend_body(body: Any) -> dict:
    c = _Checker(body)
    c.field("days", _number(1), required=True)
    return c.done()


def hwid_delete_body(body: Any, *, all_devices: bool = False) -> dict:
    c = _Checker(body)
    c.field("userId", _number(1, integer=True), required=True, convert=int)
    if not all_devices:
        c.field("hwid", _string(1), required=True)
    return c.done()


def user_id(raw: str) -> int:
    """The ``{userId}`` path parameter: a positive number."""
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value <= 0 or not value.is_integer():
        raise ValidationFailed(
            [{"validation": "format", "code": "invalid_type", "message": "Expected positive number", "path": ["userId"]}]
        )
    return int(value)
