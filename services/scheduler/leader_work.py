"""What only the leader runs. Its tasks start when this scheduler is elected and are cancelled
(and waited for) when leadership ends — lock lost or shutdown — so they never outlive the lock.
On SIGTERM `drain()` drains the tasks that can (their worker loops finish what is in flight and
return); the work ends when every task has, or when the shutdown cancels it."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from common.db.database import is_outage
from common.lifecycle.supervisor import TaskFactory, TaskSupervisor

STOP_TIMEOUT = 2.5


class LeaderWork:
    def __init__(self, on_restart: Callable[[str], None] | None = None) -> None:
        self._factories: dict[str, TaskFactory] = {}
        self._drains: list[Callable[[], Awaitable[None]]] = []
        self._on_restart = on_restart
        self._running: TaskSupervisor | None = None

    def add(self, name: str, factory: TaskFactory, *, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        self._factories[name] = factory
        if drain is not None:
            self._drains.append(drain)

    async def drain(self) -> None:
        if self._running is not None:
            self._running.drain()
        for drain in self._drains:
            await drain()

    def names(self) -> list[str]:
        return self._running.names() if self._running is not None else []

    async def run(self) -> None:
        supervisor = TaskSupervisor(on_restart=self._on_restart, expected=is_outage)
        for name, factory in self._factories.items():
            supervisor.start(name, factory)
        self._running = supervisor
        try:
            await supervisor.join()
        finally:
            self._running = None
            await supervisor.stop(timeout=STOP_TIMEOUT)
