"""The one start-up module all four services use (`python -m services.<name>` is a few lines over it).

Start (entry.main has already read the service's settings, checked the endpoints and taken its locks): logging,
pool keeper, RPC server, health endpoints, then the service's own setup. SIGTERM: stop taking work,
drain, stop tasks, close everything, exit 0 — all within ATCS_SHUTDOWN_TIMEOUT, which is below supervisord's stopwaitsecs.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

import zmq
import zmq.asyncio
from aiohttp import web

from common.contract.core import PING, PROBE, STATUS, PingResult, ProbeRequest, ProbeResult, StatusResult
from common.ipc.errors import RpcError
from common.db.database import Database, is_outage
from common.db.migrate import migration_files
from common.ipc.endpoints import curve_keys
from common.ipc.server import RpcServer
from common.lifecycle.context import ServiceContext
from common.lifecycle.entry import stop_requested
from common.lifecycle.exclusive import AlreadyRunning
from common.lifecycle.health import health_app
from common.lifecycle.metrics import Metrics
from common.lifecycle.supervisor import TaskSupervisor
from common.logging import register_secret, setup_logging
from common.settings.base import ConfigError
from common.settings.ipc import SERVICES
from common.settings.service import ServiceSettings

log = logging.getLogger("atcs.lifecycle")
Setup = Callable[[ServiceContext], Awaitable[None]]


def run_service(name: str, setup: Setup, settings: ServiceSettings, endpoint: str) -> None:
    """Runs the service on `endpoint` (checked, and locked for this process, by entry.main)."""
    setup_logging(name, settings.health.log_level, settings.health.log_format)
    for secret in settings.secrets():
        register_secret(secret)
    try:
        code = asyncio.run(_main(name, settings, setup, endpoint))
    except ConfigError as exc:
        print(f"atcs {name}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except AlreadyRunning as exc:   # a lock the service's setup takes
        print(f"atcs {name}: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


async def _main(name: str, settings: ServiceSettings, setup: Setup, endpoint: str) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stop_requested.is_set():  # SIGTERM arrived while we were still importing
        stop.set()

    metrics = Metrics(name)
    zctx = zmq.asyncio.Context()
    rpc = RpcServer(zctx, endpoint, name, curve=curve_keys(settings.ipc), observe=metrics.observe_rpc)
    db = Database(settings.database.url(), settings.database.pool_size(name),
                  acquire_timeout=settings.database.pool_acquire_timeout,
                  connect_timeout=settings.database.db_connect_timeout, service=name)
    tasks = TaskSupervisor(on_restart=lambda task: metrics.task_restarts.labels(task).inc(), expected=is_outage)
    ctx = ServiceContext(name=name, settings=settings, db=db, zmq=zctx, rpc=rpc, metrics=metrics, tasks=tasks)

    try:
        rpc.bind()
    except zmq.ZMQError as exc:
        log.error("cannot bind RPC endpoint", extra={"endpoint": endpoint, "error": str(exc)})
        zctx.destroy(linger=0)
        return 1
    _register_core_methods(ctx)

    runner = web.AppRunner(health_app(ctx), access_log=None, handle_signals=False)
    await runner.setup()
    port = settings.health.port(name)
    if port:
        try:
            await web.TCPSite(runner, settings.health.health_host, port, reuse_address=True).start()
        except OSError as exc:
            log.error("cannot bind health port", extra={"port": port, "error": str(exc)})
            await runner.cleanup()
            rpc.close()
            zctx.destroy(linger=0)
            return 1

    tasks.start("database", db.keep_connected)
    tasks.start("schema", lambda: _watch_schema(ctx))
    serve_task = asyncio.create_task(rpc.serve(), name="rpc")
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    exit_code = 0
    try:
        await setup(ctx)
        log.info("service started", extra={"endpoint": endpoint, "health_port": port, "pid": os.getpid()})
        done, _ = await asyncio.wait({serve_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if serve_task in done and serve_task.exception() is not None:
            log.error("rpc server failed", extra={"error": repr(serve_task.exception())})
            exit_code = 1
    finally:
        stopped.cancel()
        log.info("stopping", extra={"timeout": settings.health.shutdown_timeout})
        started = time.monotonic()
        try:
            async with asyncio.timeout(settings.health.shutdown_timeout):
                await _shutdown(ctx, serve_task, runner)
        except TimeoutError:
            log.error("shutdown overran its bound", extra={"timeout": settings.health.shutdown_timeout})
            exit_code = 1
        finally:
            zctx.destroy(linger=0)
        log.info("stopped", extra={"seconds": round(time.monotonic() - started, 3)})
    return exit_code


async def _shutdown(ctx: ServiceContext, serve_task: asyncio.Task, runner: web.AppRunner) -> None:
    budget = ctx.settings.health.shutdown_timeout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    ctx.tasks.drain()   # first: a worker that drains and returns is done, not restarted
    for hook in ctx._drains:
        try:
            await hook()
        except Exception:  # noqa: BLE001 - one hook's failure must not stop the others
            log.exception("drain hook failed")
    serve_task.cancel()
    await asyncio.gather(serve_task, return_exceptions=True)
    await ctx.rpc.drain(timeout=budget / 3)
    await ctx.tasks.stop(timeout=budget / 3)
    for hook in reversed(ctx._shutdown):
        try:
            outcome = hook()
            if asyncio.iscoroutine(outcome):
                await outcome
        except Exception:  # noqa: BLE001
            log.exception("shutdown hook failed")
    await runner.cleanup()
    for client in ctx._clients.values():
        client.close()
    ctx.rpc.close()
    # Whatever is left of the bound, less a margin for the loop's own teardown.
    await ctx.db.close(timeout=max(0.2, deadline - loop.time() - 0.3))


def _register_core_methods(ctx: ServiceContext) -> None:
    async def ping(_: object) -> PingResult:
        return PingResult(service=ctx.name, pid=ctx.pid, time=time.time())

    async def status(_: object) -> StatusResult:
        ready, reasons = await ctx.readiness()
        errors = [ctx.db.last_error, ctx.tasks.last_error]
        return StatusResult(
            service=ctx.name, pid=ctx.pid, uptime=round(time.time() - ctx.started_at, 3), ready=ready,
            pool=ctx.db.stats(), queues=await ctx.queue_depths(),
            last_error=next((e for e in errors if e), None),
            details={"not_ready": reasons, "tasks": ctx.tasks.names(), "rpc_inflight": ctx.rpc.inflight,
                     **ctx.details()},
        )

    async def probe(request: ProbeRequest) -> ProbeResult:
        if request.peer not in SERVICES:
            raise RpcError("bad_request", f"unknown service {request.peer!r}")
        started = time.perf_counter()
        try:
            await ctx.client(request.peer).call(PING, timeout=1.0)
            error = None
        except RpcError as exc:
            error = str(exc)
        return ProbeResult(peer=request.peer, ok=error is None, error=error,
                           round_trip_ms=round((time.perf_counter() - started) * 1000, 3))

    ctx.rpc.handle(PING, ping)
    ctx.rpc.handle(STATUS, status)
    ctx.rpc.handle(PROBE, probe)


async def _watch_schema(ctx: ServiceContext) -> None:
    """Ready only once every migration file is applied (the migrate step may still be running)."""
    expected = [p.name for p in migration_files()]
    while True:
        await ctx.db.wait_ready()
        try:
            async with ctx.db.acquire() as conn:
                exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
                applied = 0
                if exists:
                    applied = await conn.fetchval(
                        "SELECT count(*) FROM schema_migrations WHERE name = ANY($1::text[])", expected)
            ctx.mark_schema(applied == len(expected))
        except Exception:  # noqa: BLE001 - database trouble is reported by the database task
            ctx.mark_schema(False)
        await asyncio.sleep(10 if ctx.schema_ready else 0.5)
