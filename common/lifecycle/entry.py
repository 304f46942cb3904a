"""`python -m services.<name>` lands here first.

A SIGTERM that arrives while the interpreter is still importing (a stop right after a start,
or a loaded machine) must not kill the process mid-import with a signal exit: it is recorded
here, before anything heavy is imported, and honoured by the runner as soon as it is up.

What can refuse the start is checked here too, before the heavy imports (ZeroMQ, aiohttp,
asyncpg, the service's own modules), so that a refusal comes within a fraction of a second even
on a loaded machine: the configuration and every endpoint (a bad value exits 2 with one line),
and the lock of this service's endpoint (a second instance exits 1 naming the first one's PID).
"""
from __future__ import annotations

import importlib
import signal
import sys
import threading

stop_requested = threading.Event()


def _record(signum: int, frame: object) -> None:
    stop_requested.set()


def main(service: str) -> None:
    signal.signal(signal.SIGTERM, _record)
    signal.signal(signal.SIGINT, _record)
    from common.config import SERVICES, ConfigError, Settings
    from common.ipc.endpoints import check_endpoints
    from common.lifecycle.exclusive import AlreadyRunning, endpoint_lock, hold
    try:
        settings = Settings()
        endpoint = check_endpoints(settings.ipc, service, SERVICES)
        # Before binding: a second instance must not take over the first one's socket.
        lock = hold(endpoint_lock(endpoint, settings.ipc.resolved_run_dir()), f"the RPC endpoint {endpoint}")
    except ConfigError as exc:
        print(f"atcs {service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except AlreadyRunning as exc:
        print(f"atcs {service}: {exc}", file=sys.stderr)
        sys.exit(1)
    from common.lifecycle.runner import run_service
    setup = importlib.import_module(f"services.{service}.app").setup
    try:
        run_service(service, setup, settings, endpoint)
    finally:
        lock.release()
