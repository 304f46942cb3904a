from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res", bound=BaseModel)


# PostgreSQL's integer columns. A number from outside (callback data, a typed id) past them fails
# its query ("value out of int32 range") with a traceback, so it is bounded before it gets there.
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
Id4 = Annotated[int, Field(ge=1, le=INT4_MAX)]     # a serial (integer) row id: plans
Id8 = Annotated[int, Field(ge=1, le=INT8_MAX)]     # a bigserial row id, or a Telegram user id (bigint)


class Body(BaseModel):
    """Base of every request and result body: unknown fields are refused, not ignored."""
    model_config = ConfigDict(extra="forbid", frozen=True)


class RpcErrorCode(StrEnum):
    UNKNOWN_METHOD = "unknown_method"
    BAD_REQUEST = "bad_request"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNAVAILABLE = "unavailable"      # the server is up but a dependency (the database) is not
    OVERLOADED = "overloaded"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Method(Generic[Req, Res]):
    name: str
    service: str
    request: type[Req]
    result: type[Res]
    # Safe to send again after a timeout: reading, or deduplicated by an idempotency key in the body.
    retry_safe: bool


METHODS: dict[str, Method] = {}


def method(name: str, service: str, request: type[Req], result: type[Res], *, retry_safe: bool) -> Method[Req, Res]:
    if name in METHODS:
        raise ValueError(f"RPC method {name} declared twice")
    declared = Method(name=name, service=service, request=request, result=result, retry_safe=retry_safe)
    METHODS[name] = declared
    return declared


def methods_of(service: str) -> list[Method]:
    return [m for m in METHODS.values() if m.service == service or m.service == "*"]
