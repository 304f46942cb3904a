"""Methods every service answers."""
from __future__ import annotations

from typing import Any

from common.contract.base import Body, method


class Empty(Body):
    pass


class PingResult(Body):
    service: str
    pid: int
    time: float


class StatusResult(Body):
    service: str
    pid: int
    uptime: float
    ready: bool
    pool: dict[str, Any]
    queues: dict[str, int]
    last_error: str | None
    details: dict[str, Any] = {}


PING = method("ping", "*", Empty, PingResult, retry_safe=True)
STATUS = method("status", "*", Empty, StatusResult, retry_safe=True)


class ProbeRequest(Body):
    peer: str


class ProbeResult(Body):
    peer: str
    ok: bool
    round_trip_ms: float
    error: str | None = None


# Asks a service to ping one of its peers: proves the path between two services end to end.
PROBE = method("probe", "*", ProbeRequest, ProbeResult, retry_safe=True)
