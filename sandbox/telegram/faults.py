"""Injected failures: latency, error statuses, 429 with retry_after, and dropped connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import DEFAULT_DESCRIPTIONS, ApiError, too_many_requests


@dataclass
class Fault:
    method: str = "*"  # Bot API method name (case-insensitive) or "*" for every method
    latency: float | None = None  # seconds added before the call is answered
    status: int | None = None  # answer with this error instead of running the method
    retry_after: int | None = None
    description: str | None = None
    raw_body: str | None = None  # e.g. an nginx HTML page, which is what a real 502 looks like
    count: int | None = None  # calls left to affect; None = until cleared
    outage: bool = False  # close the connection without any answer

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        fault = cls(**data)
        if fault.status is not None and not 400 <= int(fault.status) <= 599:
            raise ValueError("status must be an HTTP error status (400..599)")
        if fault.latency is not None and fault.latency < 0:
            raise ValueError("latency must be >= 0")
        if fault.count is not None and fault.count < 1:
            raise ValueError("count must be >= 1")
        if fault.status is None and fault.latency is None and not fault.outage:
            raise ValueError("a fault needs status, latency or outage")
        return fault

    def matches(self, method: str) -> bool:
        return self.method == "*" or self.method.lower() == method.lower()

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        if self.status == 429:
            error = too_many_requests(self.retry_after or 1)
            if self.description:
                error.description = self.description
            return error
        description = self.description or DEFAULT_DESCRIPTIONS.get(self.status, "Error")
        return ApiError(self.status, description, retry_after=self.retry_after)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FaultSet:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str) -> Fault | None:
        """The first fault matching `method`, counting this call against it."""
        for fault in self._faults:
            if fault.matches(method):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]
