"""RPC client: the zguide's Lazy Pirate over a small pool of DEALER sockets.

Each call borrows a socket, so a late reply can never be mistaken for another call's. On a
timeout the socket is closed with LINGER 0 and discarded (its state is unknown); a retry-safe
method is sent again on a fresh socket until its deadline, any other fails with RpcTimeout.
"""
from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from typing import Any, TypeVar

import zmq
import zmq.asyncio
from pydantic import BaseModel

from common.settings.base import ConfigError
from common.contract.base import Method
from common.ipc.endpoints import CurveKeys
from common.ipc.envelope import decode, encode_request
from common.ipc.errors import RpcError, RpcTimeout, error_from_reply
from common.ipc.watched import WatchedSocket

Res = TypeVar("Res", bound=BaseModel)


class RpcClient:
    def __init__(self, context: zmq.asyncio.Context, endpoint: str, *, curve: CurveKeys | None = None,
                 default_timeout: float = 2.0, attempt_timeout: float = 0.75, max_idle: int = 8) -> None:
        if endpoint.startswith("tcp://") and (curve is None or curve.client_secret is None):
            raise ConfigError(f"RPC client of {endpoint}: tcp:// needs CURVE keys, and this client has none; "
                              "it would talk in clear")
        self.endpoint = endpoint
        self.default_timeout = default_timeout
        self.attempt_timeout = attempt_timeout
        self._context = context
        self._curve = curve
        self._idle: list[WatchedSocket] = []
        self._max_idle = max_idle
        self._closed = False
        # Ids must be unique across every client of a server (it keeps replies by id for retries):
        # a random per-client prefix and a counter are as unique as a uuid4 per call and cheaper.
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count(1)

    def _new_socket(self) -> WatchedSocket:
        socket = self._context.socket(zmq.DEALER, socket_class=WatchedSocket)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RECONNECT_IVL, 50)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self._curve is not None and self.endpoint.startswith("tcp://"):
            socket.curve_serverkey = self._curve.server_public
            socket.curve_publickey = self._curve.client_public
            socket.curve_secretkey = self._curve.client_secret
        socket.connect(self.endpoint)
        socket.watch(asyncio.get_running_loop())
        return socket

    def _borrow(self) -> WatchedSocket:
        loop = asyncio.get_running_loop()
        while self._idle:
            socket = self._idle.pop()
            if socket.loop is loop:
                return socket
            socket.close(linger=0)  # watched by a loop that is gone (a client kept across loops)
        return self._new_socket()

    def _give_back(self, socket: WatchedSocket) -> None:
        if self._closed or len(self._idle) >= self._max_idle:
            socket.close(linger=0)
        else:
            self._idle.append(socket)

    async def call(self, method: Method[Any, Res], body: BaseModel | dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> Res:
        if self._closed:
            raise RpcError("unavailable", "client closed")
        if isinstance(body, BaseModel):
            payload_body = body.model_dump(mode="json")
        elif body is None:
            payload_body = _empty_body(method.request)
        else:
            payload_body = method.request.model_validate(body).model_dump(mode="json")
        budget = self.default_timeout if timeout is None else timeout
        deadline = time.time() + budget
        request_id = f"{self._id_prefix}{next(self._id_counter):x}"
        frame = encode_request(request_id, method.name, deadline, payload_body)
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise RpcTimeout(f"{method.name} to {self.endpoint}: no answer within {budget:.2f}s")
            attempt = min(remaining, self.attempt_timeout) if method.retry_safe else remaining
            socket = self._borrow()
            try:
                reply = await self._attempt(socket, frame, request_id, attempt)
            except BaseException:
                socket.close(linger=0)  # cancelled mid-call: its state is unknown
                raise
            if reply is None:
                socket.close(linger=0)
                if not method.retry_safe:
                    raise RpcTimeout(f"{method.name} to {self.endpoint}: no answer within {budget:.2f}s")
                continue
            self._give_back(socket)
            if reply.get("ok"):
                return method.result.model_validate(reply.get("result") or {})
            raise error_from_reply(reply.get("error") or {})

    async def _attempt(self, socket: WatchedSocket, frame: bytes, request_id: str,
                       timeout: float) -> dict[str, Any] | None:
        # One timer around send and receive: a poll before each recv was a second wake-up per call.
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        socket.send(frame, zmq.NOBLOCK)
                        break
                    except zmq.Again:  # a full queue: wait until it takes the frame
                        await socket.wait_for(zmq.POLLOUT)
                while True:
                    await socket.wait_for(zmq.POLLIN)
                    try:
                        reply = decode(socket.recv(zmq.NOBLOCK))
                    except zmq.Again:
                        continue
                    if reply.get("id") == request_id:
                        return reply
                    # A stale answer to an earlier, abandoned attempt: keep waiting for ours.
        except TimeoutError:
            return None

    def close(self) -> None:
        self._closed = True
        for socket in self._idle:
            socket.close(linger=0)
        self._idle.clear()


_EMPTY_BODIES: dict[type[BaseModel], dict[str, Any]] = {}


def _empty_body(request: type[BaseModel]) -> dict[str, Any]:
    """The body of a call made without one (ping, status, nudges): validated once per request
    type, as its defaults cannot change, unless a default is made per call (default_factory)."""
    cached = _EMPTY_BODIES.get(request)
    if cached is not None:
        return cached
    body = request.model_validate({}).model_dump(mode="json")
    if all(field.default_factory is None for field in request.model_fields.values()):
        _EMPTY_BODIES[request] = body
    return body
