"""The service runner. Exports are loaded lazily so that `entry` can catch SIGTERM before the
heavy imports (zmq, aiohttp, asyncpg, a service's own modules) have run."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.lifecycle.context import ServiceContext
    from common.lifecycle.runner import run_service

__all__ = ["ServiceContext", "run_service"]


def __getattr__(name: str) -> Any:
    if name == "ServiceContext":
        from common.lifecycle.context import ServiceContext
        return ServiceContext
    if name == "run_service":
        from common.lifecycle.runner import run_service
        return run_service
    raise AttributeError(name)
