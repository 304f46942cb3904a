"""RPC server: a ROUTER socket, one task per request, typed errors, bounded concurrency.

Requests are read by a reader callback on the socket's file descriptor, which starts each one's
task right there: pyzmq's awaitable recv would wake a reading task first (a future, a loop turn)
and only then start the request's task. ZeroMQ signals that descriptor on edges: whatever touches
the socket (a reply's send too) can take the signal of a request already queued, so after each
send the socket's events are read again and, if one is waiting, reading is scheduled.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio
from pydantic import BaseModel, ValidationError
from zmq.auth.base import Authenticator

from common.settings.base import ConfigError
from common.contract.base import Method, RpcErrorCode
from common.db.database import DatabaseUnavailable
from common.ipc.endpoints import CurveKeys
from common.ipc.envelope import decode, encode_error, encode_result
from common.ipc.errors import RpcError
from common.ipc.watched import WatchedSocket

log = logging.getLogger(__name__)
Handler = Callable[[Any], Awaitable[BaseModel | dict[str, Any] | None]]
Observer = Callable[[str, str, float], None]


class RpcServer:
    def __init__(self, context: zmq.asyncio.Context, endpoint: str, service: str, *,
                 curve: CurveKeys | None = None, max_inflight: int = 512,
                 observe: Observer | None = None) -> None:
        self.endpoint = endpoint
        self.service = service
        self._handlers: dict[str, tuple[Method, Handler]] = {}
        self._inflight: set[asyncio.Task] = set()
        self._max_inflight = max_inflight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self._read_scheduled = False
        self._observe = observe
        if endpoint.startswith("tcp://") and (curve is None or curve.server_secret is None):
            raise ConfigError(f"RPC server of {endpoint}: tcp:// needs CURVE keys, and this server has none; "
                              "it would talk in clear")
        self._socket = context.socket(zmq.ROUTER, socket_class=WatchedSocket)
        self._socket.setsockopt(zmq.LINGER, 0)
        # A client that reconnects under the same routing id must not be refused.
        self._socket.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self._auth: Authenticator | None = None
        if curve is not None and endpoint.startswith("tcp://"):
            # CURVE alone lets in any client that knows the server's public key (which is public):
            # a ZAP handler admits only the configured client key (pyzmq's "ironhouse").
            self._auth = Authenticator(context)
            self._auth.start()
            self._auth.configure_curve_callback("*", _OnlyKey(curve.client_public))
            self._socket.curve_server = True
            self._socket.curve_publickey = curve.server_public
            self._socket.curve_secretkey = curve.server_secret
        self._closed = False
        # zguide "idempotent services": a retry carries the same request id, so a retry that
        # arrives while the first attempt is still running joins it, and one that arrives after
        # gets the stored reply — a handler slower than the client's attempt timeout still answers.
        self._running: dict[str, asyncio.Future[bytes]] = {}
        self._replies: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    REPLY_TTL = 60.0
    MAX_STORED_REPLIES = 10_000

    def bind(self) -> None:
        self._socket.bind(self.endpoint)

    def handle(self, method: Method, handler: Handler) -> None:
        if method.service not in (self.service, "*"):
            raise ValueError(f"{method.name} belongs to {method.service}, not {self.service}")
        self._handlers[method.name] = (method, handler)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def serve(self) -> None:
        if self._auth is None:
            await self._serve_requests()
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self._serve_zap(self._auth), name="rpc-zap")
            group.create_task(self._serve_requests(), name="rpc-requests")

    @staticmethod
    async def _serve_zap(auth: Authenticator) -> None:
        poller = zmq.asyncio.Poller()
        poller.register(auth.zap_socket, zmq.POLLIN)
        while True:
            events = dict(await poller.poll())
            if auth.zap_socket in events:
                await auth.handle_zap_message(auth.zap_socket.recv_multipart())

    # Requests read per callback before other work gets a turn (the rest are read right after it).
    READ_BATCH = 64

    async def _serve_requests(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._reading = True
        self._socket.watch(loop, self._read)
        loop.call_soon(self._read)  # requests queued before the reader was there
        try:
            await loop.create_future()  # until cancelled: stop reading, finish what runs (drain)
        finally:
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._socket.unwatch()

    def _read(self) -> None:
        self._read_scheduled = False
        if not self._reading or self._closed:
            return
        assert self._loop is not None
        for _ in range(self.READ_BATCH):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.warning("rpc socket read failed", extra={"error": str(exc)})
                return
            if len(frames) < 2:
                continue
            identity, payload = frames[0], frames[-1]
            if len(self._inflight) >= self._max_inflight:
                self._send(identity, encode_error(_peek_id(payload), RpcErrorCode.OVERLOADED, "too many requests in flight"))
                continue
            self._inflight.add(self._loop.create_task(self._run(identity, payload)))
        self._schedule_read()

    def _schedule_read(self) -> None:
        if not self._read_scheduled and self._reading and self._loop is not None:
            self._read_scheduled = True
            self._loop.call_soon(self._read)

    async def _run(self, identity: bytes, payload: bytes) -> None:
        # Bookkeeping inside the task, not in a done-callback: a callback costs the loop one more
        # turn per request, a quarter of an RPC round trip (bench/bench_rpc.py).
        try:
            await self._dispatch(identity, payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rpc request task failed")
        finally:
            self._inflight.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _dispatch(self, identity: bytes, payload: bytes) -> None:
        try:
            envelope: dict[str, Any] | None = decode(payload)
        except ValueError:
            envelope = None
        request_id = envelope.get("id") if envelope else None
        if not isinstance(request_id, str) or not request_id:
            self._send(identity, await self._handle(envelope))
            return
        stored = self._stored_reply(request_id)
        if stored is not None:
            self._send(identity, stored)
            return
        running = self._running.get(request_id)
        if running is not None:
            self._send(identity, await asyncio.shield(running))
            return
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._running[request_id] = future
        try:
            reply = await self._handle(envelope)
            future.set_result(reply)
            self._store_reply(request_id, reply)
        except BaseException:
            future.cancel()  # joined retries end with this one
            raise
        finally:
            self._running.pop(request_id, None)
        self._send(identity, reply)

    def _stored_reply(self, request_id: str) -> bytes | None:
        now = time.monotonic()
        while self._replies:
            stored_at, _ = next(iter(self._replies.values()))
            if now - stored_at <= self.REPLY_TTL:
                break
            self._replies.popitem(last=False)
        entry = self._replies.get(request_id)
        return entry[1] if entry else None

    def _store_reply(self, request_id: str, reply: bytes) -> None:
        self._replies[request_id] = (time.monotonic(), reply)
        while len(self._replies) > self.MAX_STORED_REPLIES:
            self._replies.popitem(last=False)

    async def _handle(self, envelope: dict[str, Any] | None) -> bytes:
        started = time.monotonic()
        request_id = None
        name = "?"
        code = "ok"
        try:
            try:
                if envelope is None:
                    raise ValueError("not a JSON object")
                request_id = envelope.get("id")
                name = str(envelope.get("method"))
                deadline = float(envelope["deadline"])
                body = envelope.get("body") or {}
            except (ValueError, KeyError, TypeError):
                raise RpcError(RpcErrorCode.BAD_REQUEST, "malformed envelope") from None
            entry = self._handlers.get(name)
            if entry is None:
                raise RpcError(RpcErrorCode.UNKNOWN_METHOD, f"{self.service} has no method {name!r}")
            method, handler = entry
            remaining = deadline - time.time()
            if remaining <= 0:
                raise RpcError(RpcErrorCode.DEADLINE_EXCEEDED, "deadline passed before the request was read")
            try:
                request = method.request.model_validate(body)
            except ValidationError as exc:
                raise RpcError(RpcErrorCode.BAD_REQUEST, _short(exc)) from None
            try:
                async with asyncio.timeout(remaining):
                    result = await handler(request)
            except TimeoutError:
                raise RpcError(RpcErrorCode.DEADLINE_EXCEEDED, "handler did not finish before the deadline") from None
            if isinstance(result, BaseModel):
                out = result.model_dump(mode="json")
            else:
                out = method.result.model_validate(result or {}).model_dump(mode="json")
            reply = encode_result(request_id, out)
        except RpcError as exc:
            code = str(exc.code)
            reply = encode_error(request_id, exc.code, exc.message)
        except DatabaseUnavailable as exc:
            code = RpcErrorCode.UNAVAILABLE
            reply = encode_error(request_id, code, f"database unavailable: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception:
            error_id = secrets.token_hex(4)
            code = RpcErrorCode.INTERNAL
            log.exception("rpc handler failed", extra={"method": name, "error_id": error_id})
            reply = encode_error(request_id, code, f"internal error {error_id}")
        if self._observe is not None:
            self._observe(name, str(code), time.monotonic() - started)
        return reply

    def _send(self, identity: bytes, reply: bytes) -> None:
        if self._closed:
            return
        try:
            self._socket.send_multipart([identity, reply], flags=zmq.NOBLOCK)
        except zmq.Again:
            log.warning("reply dropped: client queue full")
        except zmq.ZMQError as exc:
            log.warning("reply dropped", extra={"error": str(exc)})
            return
        # The send may have taken the descriptor's signal of a request that arrived meanwhile.
        if self._socket.get(zmq.EVENTS) & zmq.POLLIN:
            self._schedule_read()

    async def drain(self, timeout: float) -> None:
        """Waits for requests already being handled; new ones are no longer read (serve is cancelled)."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=1)

    def close(self) -> None:
        self._closed = True
        self._stop_reading()
        self._socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()


class _OnlyKey:
    """pyzmq's credentials provider: admits the one client public key (Z85) of the deployment."""

    def __init__(self, allowed: bytes) -> None:
        self._allowed = allowed

    def callback(self, domain: str, key: bytes) -> bool:
        return hmac.compare_digest(key, self._allowed)


def _peek_id(payload: bytes) -> str | None:
    try:
        return decode(payload).get("id")
    except ValueError:
        return None


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
