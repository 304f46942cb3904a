"""The IPC contract: every RPC method's name, owner, body schemas and retry safety, in one place.

Clients and servers import the same `Method` objects, so a body that one side sends is validated
by the schema the other side expects. Each service's methods live in a module named for it.
"""
from common.contract.base import METHODS, Method, RpcErrorCode, method, methods_of

# Importing the modules registers their methods.
from common.contract import core as _core  # noqa: F401,E402
from common.contract import payments as _payments  # noqa: F401,E402
from common.contract import vpn_gateway as _vpn_gateway  # noqa: F401,E402
from common.contract import scheduler as _scheduler  # noqa: F401,E402
from common.contract import bot as _bot  # noqa: F401,E402

__all__ = ["METHODS", "Method", "RpcErrorCode", "method", "methods_of"]
