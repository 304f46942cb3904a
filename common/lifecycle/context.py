"""What a service's composition root is given: its own settings, pool, RPC server and clients,
task supervisor, readiness checks and shutdown hooks. Handlers get what they need from here by
name; nothing reaches for globals."""
from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
import zmq.asyncio

from common.db.database import Database
from common.ipc.client import RpcClient
from common.ipc.endpoints import curve_keys, endpoint_variable, prepare_endpoint, require_curve_for_tcp
from common.ipc.server import RpcServer
from common.lifecycle.metrics import Metrics
from common.lifecycle.supervisor import TaskFactory, TaskSupervisor
from common.settings.service import ServiceSettings

ReadinessCheck = Callable[[], "tuple[bool, str] | Awaitable[tuple[bool, str]]"]
QueueDepth = Callable[[], "int | Awaitable[int]"]
QueueCount = Callable[[asyncpg.Connection], Awaitable[int]]
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class ServiceContext(Generic[SettingsT]):
    name: str
    settings: SettingsT   # the service's own: exactly the sections its settings.py declares
    db: Database
    zmq: zmq.asyncio.Context
    rpc: RpcServer
    metrics: Metrics
    tasks: TaskSupervisor
    started_at: float = field(default_factory=time.time)
    schema_ready: bool = False
    _schema_seen: asyncio.Event = field(default_factory=asyncio.Event)
    _checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _queues: dict[str, QueueDepth] = field(default_factory=dict)
    _details: dict[str, Callable[[], Any]] = field(default_factory=dict)
    _shutdown: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    _clients: dict[str, RpcClient] = field(default_factory=dict)
    _drains: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return os.getpid()

    def client(self, service: str) -> RpcClient:
        """The RPC client to another service (one per peer, made on first use)."""
        if service not in self._clients:
            variable = endpoint_variable(service)
            endpoints = [prepare_endpoint(address, variable) for address in self.settings.ipc.endpoints(service)]
            for address in endpoints:
                require_curve_for_tcp(address, self.settings.ipc, variable, "client")
            self._clients[service] = RpcClient(self.zmq, endpoints, curve=curve_keys(self.settings.ipc),
                                               default_timeout=self.settings.ipc.rpc_timeout)
        return self._clients[service]

    def supervise(self, name: str, factory: TaskFactory, *, restart: bool = True) -> None:
        """Runs `factory` under the task supervisor once every migration has been applied: on a
        first start the migrate step may still be creating the tables this task reads."""
        async def after_schema() -> None:
            await self._schema_seen.wait()
            await factory()
        self.tasks.start(name, after_schema, restart=restart)

    def mark_schema(self, ready: bool) -> None:
        self.schema_ready = ready
        if ready:
            self._schema_seen.set()  # migrations are never undone, so waiting ends for good

    def add_readiness(self, name: str, check: ReadinessCheck) -> None:
        """`check` returns (ok, reason); /readyz is true only when every check is."""
        self._checks[name] = check

    def add_queue(self, name: str, depth: QueueDepth) -> None:
        self._queues[name] = depth

    def add_db_queue(self, name: str, count: QueueCount) -> None:
        """A queue whose depth is one query (a repository's `count(conn)`) on this service's pool."""
        async def depth() -> int:
            async with self.db.acquire() as conn:
                return await count(conn)
        self.add_queue(name, depth)

    def add_detail(self, name: str, value: Callable[[], Any]) -> None:
        self._details[name] = value

    def on_drain(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Called first on SIGTERM: stop taking new work (e.g. stop polling, close a listener)."""
        self._drains.append(hook)

    def on_shutdown(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Called last, in reverse order of registration, after tasks have stopped."""
        self._shutdown.append(hook)

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        reasons: dict[str, str] = {}
        if not self.db.ready:
            reasons["database"] = self.db.last_error or "not connected"
        elif not self.schema_ready:
            reasons["database"] = "migrations not applied yet"
        for name, check in self._checks.items():
            try:
                outcome = check()
                if inspect.isawaitable(outcome):
                    outcome = await outcome
                ok, reason = outcome
            except Exception as exc:  # noqa: BLE001 - a failing check means not ready
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                reasons[name] = reason
        return not reasons, reasons

    async def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        if not self.db.ready:
            return depths
        for name, depth in self._queues.items():
            try:
                value = depth()
                if inspect.isawaitable(value):
                    value = await value
                depths[name] = int(value)
                self.metrics.queue_depth.labels(name).set(depths[name])
            except Exception:  # noqa: BLE001 - status must answer even when a queue cannot be read
                depths[name] = -1
        return depths

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self._details.items():
            try:
                out[name] = value()
            except Exception as exc:  # noqa: BLE001
                out[name] = f"error: {exc}"
        return out
