from common.ipc.client import RpcClient
from common.ipc.errors import RpcError, RpcTimeout
from common.ipc.server import RpcServer

__all__ = ["RpcClient", "RpcError", "RpcServer", "RpcTimeout"]
