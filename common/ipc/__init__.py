"""The ZeroMQ RPC layer. Exports are loaded lazily so that a service's pre-flight checks
(common/lifecycle/entry.py: config, endpoints, the instance lock) can read endpoints.py without
importing ZeroMQ, asyncpg and the rest first."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.ipc.client import RpcClient
    from common.ipc.errors import RpcError, RpcTimeout
    from common.ipc.server import RpcServer

__all__ = ["RpcClient", "RpcError", "RpcServer", "RpcTimeout"]


def __getattr__(name: str) -> Any:
    if name == "RpcClient":
        from common.ipc.client import RpcClient
        return RpcClient
    if name in ("RpcError", "RpcTimeout"):
        from common.ipc import errors
        return getattr(errors, name)
    if name == "RpcServer":
        from common.ipc.server import RpcServer
        return RpcServer
    raise AttributeError(name)
