"""The shared start-up every `services/<name>/__main__.py` calls with its own parts:

    main("bot", read_settings, load_setup, exclusive=token_lock)

A SIGTERM that arrives while the interpreter is still importing (a stop right after a start,
or a loaded machine) must not kill the process mid-import with a signal exit: it is recorded
here, before anything heavy is imported, and honoured by the runner as soon as it is up.

What can refuse the start is checked here too, before the heavy imports (ZeroMQ, aiohttp,
asyncpg, the service's own modules), so that a refusal comes within a fraction of a second even
on a loaded machine: the service's settings (a bad value exits 2 with one line), every endpoint,
the lock of this service's endpoint and any lock the service asks for (a second instance exits 1
naming the first one's PID). Only then is `load_setup` called: it imports the service's
composition root, the expensive part.
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:   # names only: importing them here would cost the cheap phase its speed
    from common.lifecycle.context import ServiceContext
    from common.settings.service import ServiceSettings

stop_requested = threading.Event()
SettingsT = TypeVar("SettingsT", bound="ServiceSettings")
# (kind, key, what): the lock's file is a digest of kind and key (so a secret is never a file
# name); `what` names the guarded thing for the operator and must not contain a secret.
Exclusive = tuple[str, str, str]


def _record(signum: int, frame: object) -> None:
    stop_requested.set()


def main(service: str, read_settings: Callable[[], SettingsT],
         load_setup: Callable[[], Callable[["ServiceContext[Any]"], Awaitable[None]]],
         exclusive: Callable[[SettingsT], Iterable[Exclusive]] | None = None) -> None:
    """`read_settings` returns the service's settings (only the sections it declares);
    `load_setup` imports and returns its composition root's setup; `exclusive` names the locks
    only one process may hold besides the endpoint's (the bot: its token's long polling)."""
    signal.signal(signal.SIGTERM, _record)
    signal.signal(signal.SIGINT, _record)
    from common.ipc.endpoints import check_endpoints
    from common.lifecycle.exclusive import AlreadyRunning, endpoint_lock, hold, lock_name
    from common.settings.base import ConfigError
    from common.settings.ipc import SERVICES
    locks = []
    try:
        settings = read_settings()
        endpoint = check_endpoints(settings.ipc, service, SERVICES)
        run_dir = settings.ipc.resolved_run_dir()
        # Before binding: a second instance must not take over the first one's socket.
        locks.append(hold(endpoint_lock(endpoint, run_dir), f"the RPC endpoint {endpoint}"))
        for kind, key, what in (exclusive(settings) if exclusive else ()):
            locks.append(hold(run_dir / lock_name(kind, key), what))
    except ConfigError as exc:
        print(f"atcs {service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except AlreadyRunning as exc:
        for lock in locks:
            lock.release()
        print(f"atcs {service}: {exc}", file=sys.stderr)
        sys.exit(1)
    from common.lifecycle.runner import run_service
    try:
        run_service(service, load_setup(), settings, endpoint)
    finally:
        for lock in reversed(locks):
            lock.release()
