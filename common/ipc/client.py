"""RPC client: the zguide's Lazy Pirate over a small pool of DEALER sockets, per endpoint.

Each call borrows a socket, so a late reply can never be mistaken for another call's. On a
timeout the socket is closed with LINGER 0 and discarded (its state is unknown); a retry-safe
method is sent again on a fresh socket until its deadline, any other fails with RpcTimeout.

A service may run on several hosts: the client is then given a list of endpoints (the local one
first), tried in order under one deadline. With a list, sockets are ZMQ_IMMEDIATE: a request is
queued only on a connection that is up, so a send that cannot complete within the connect budget
was never sent, and any method (retry-safe or not) may go to the next endpoint. An endpoint that
failed is tried last for a while (growing to `max_quiet` seconds), so a dead host stops costing
each call its connect budget.
"""
from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Sequence
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


class _Endpoint:
    """One address of the peer: its idle sockets and how long it is tried last after failing."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.idle: list[WatchedSocket] = []
        self.quiet_until = 0.0
        self.quiet_for = 0.0

    def failed(self, max_quiet: float) -> None:
        self.quiet_for = min(max(self.quiet_for * 2, 1.0), max_quiet)
        self.quiet_until = time.monotonic() + self.quiet_for
        for socket in self.idle:   # connected to a peer that stopped answering: not worth keeping
            socket.close(linger=0)
        self.idle.clear()

    def answered(self) -> None:
        self.quiet_for = 0.0
        self.quiet_until = 0.0


class RpcClient:
    def __init__(self, context: zmq.asyncio.Context, endpoint: str | Sequence[str], *,
                 curve: CurveKeys | None = None, default_timeout: float = 2.0, attempt_timeout: float = 0.75,
                 max_idle: int = 8, connect_timeout: float = 0.3, max_quiet: float = 30.0) -> None:
        addresses = [endpoint] if isinstance(endpoint, str) else list(endpoint)
        if not addresses:
            raise ConfigError("RPC client: no endpoint given")
        for address in addresses:
            if address.startswith("tcp://") and (curve is None or curve.client_secret is None):
                raise ConfigError(f"RPC client of {address}: tcp:// needs CURVE keys, and this client has none; "
                                  "it would talk in clear")
        self._endpoints = [_Endpoint(address) for address in addresses]
        self.endpoint = addresses[0]
        self.default_timeout = default_timeout
        self.attempt_timeout = attempt_timeout
        self.connect_timeout = connect_timeout
        self.max_quiet = max_quiet
        self._several = len(addresses) > 1
        self._context = context
        self._curve = curve
        self._max_idle = max_idle
        self._closed = False
        # Ids must be unique across every client of a server (it keeps replies by id for retries):
        # a random per-client prefix and a counter are as unique as a uuid4 per call and cheaper.
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count(1)

    @property
    def endpoints(self) -> list[str]:
        return [e.address for e in self._endpoints]

    def quiet(self) -> list[str]:
        """The endpoints tried last just now, because they failed recently."""
        now = time.monotonic()
        return [e.address for e in self._endpoints if e.quiet_until > now]

    def _new_socket(self, address: str) -> WatchedSocket:
        socket = self._context.socket(zmq.DEALER, socket_class=WatchedSocket)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RECONNECT_IVL, 50)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self._several:
            socket.setsockopt(zmq.IMMEDIATE, 1)
        if self._curve is not None and address.startswith("tcp://"):
            socket.curve_serverkey = self._curve.server_public
            socket.curve_publickey = self._curve.client_public
            socket.curve_secretkey = self._curve.client_secret
        socket.connect(address)
        socket.watch(asyncio.get_running_loop())
        return socket

    def _borrow(self, endpoint: _Endpoint) -> WatchedSocket:
        loop = asyncio.get_running_loop()
        while endpoint.idle:
            socket = endpoint.idle.pop()
            if socket.loop is loop:
                return socket
            socket.close(linger=0)  # watched by a loop that is gone (a client kept across loops)
        return self._new_socket(endpoint.address)

    def _give_back(self, endpoint: _Endpoint, socket: WatchedSocket) -> None:
        if self._closed or len(endpoint.idle) >= self._max_idle:
            socket.close(linger=0)
        else:
            endpoint.idle.append(socket)

    def _order(self, tried: set[str]) -> _Endpoint:
        """The first endpoint not yet tried in this round: answering ones in their order, then quiet ones."""
        now = time.monotonic()
        fresh = [e for e in self._endpoints if e.address not in tried]
        if not fresh:
            tried.clear()
            fresh = list(self._endpoints)
        awake = [e for e in fresh if e.quiet_until <= now]
        return (awake or fresh)[0]

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
        tried: set[str] = set()
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise RpcTimeout(f"{method.name} to {self._describe()}: no answer within {budget:.2f}s")
            endpoint = self._order(tried)
            tried.add(endpoint.address)
            attempt = min(remaining, self.attempt_timeout) if method.retry_safe else remaining
            connect = min(remaining, self.connect_timeout) if self._several else None
            socket = self._borrow(endpoint)
            try:
                outcome, reply = await self._attempt(socket, frame, request_id, attempt, connect)
            except BaseException:
                socket.close(linger=0)  # cancelled mid-call: its state is unknown
                raise
            if reply is None:
                socket.close(linger=0)
                if self._several:
                    endpoint.failed(self.max_quiet)
                if outcome == "unsent":
                    continue      # never left this process: safe to send elsewhere, whatever the method
                if not method.retry_safe:
                    raise RpcTimeout(f"{method.name} to {endpoint.address}: no answer within {budget:.2f}s")
                continue
            endpoint.answered()
            self._give_back(endpoint, socket)
            if reply.get("ok"):
                return method.result.model_validate(reply.get("result") or {})
            raise error_from_reply(reply.get("error") or {})

    def _describe(self) -> str:
        return self.endpoint if not self._several else " or ".join(self.endpoints)

    async def _attempt(self, socket: WatchedSocket, frame: bytes, request_id: str, timeout: float,
                       connect: float | None) -> tuple[str, dict[str, Any] | None]:
        """("reply", reply), or ("unsent", None) when an IMMEDIATE socket found no connection within
        `connect` (the request never left), or ("timeout", None)."""
        started = time.monotonic()
        # The borrowed socket has nothing else queued: the send is immediate; only a full queue (or,
        # with IMMEDIATE, no connection yet) waits, within the connect budget when there is one.
        try:
            async with asyncio.timeout(connect if connect is not None else timeout):
                while True:
                    try:
                        socket.send(frame, zmq.NOBLOCK)
                        break
                    except zmq.Again:
                        await socket.wait_for(zmq.POLLOUT)
        except TimeoutError:
            return ("unsent" if connect is not None else "timeout"), None
        # One timer around the receive: a poll before each recv was a second wake-up per call.
        try:
            async with asyncio.timeout(max(0.0, timeout - (time.monotonic() - started))):
                while True:
                    await socket.wait_for(zmq.POLLIN)
                    try:
                        reply = decode(socket.recv(zmq.NOBLOCK))
                    except zmq.Again:
                        continue
                    if reply.get("id") == request_id:
                        return "reply", reply
                    # A stale answer to an earlier, abandoned attempt: keep waiting for ours.
        except TimeoutError:
            return "timeout", None

    def close(self) -> None:
        self._closed = True
        for endpoint in self._endpoints:
            for socket in endpoint.idle:
                socket.close(linger=0)
            endpoint.idle.clear()


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
