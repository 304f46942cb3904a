from __future__ import annotations

from common.contract.base import RpcErrorCode


class RpcError(Exception):
    """A typed failure: raised by a handler to answer with it, raised by a client on receiving it."""

    def __init__(self, code: RpcErrorCode | str, message: str = "") -> None:
        self.code = RpcErrorCode(code) if code in RpcErrorCode._value2member_map_ else code
        self.message = message
        super().__init__(f"{self.code}: {message}" if message else str(self.code))


class RpcTimeout(RpcError):
    """No answer before the deadline. The request may or may not have been carried out."""

    def __init__(self, message: str = "") -> None:
        super().__init__(RpcErrorCode.DEADLINE_EXCEEDED, message)


def error_from_reply(error: dict) -> RpcError:
    """The exception a caller sees for an error reply.

    A server that stops a handler at the deadline answers `deadline_exceeded`; for the caller that is the
    same event as its own clock running out, so both arrive as RpcTimeout.
    """
    code = error.get("code", RpcErrorCode.INTERNAL)
    message = error.get("message", "")
    if code == RpcErrorCode.DEADLINE_EXCEEDED:
        return RpcTimeout(message)
    return RpcError(code, message)
