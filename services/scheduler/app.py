"""Composition root of the scheduler process.

Every scheduler serves RPC (starting a job only writes a row; a chart is drawn by whichever
scheduler is asked); only the one holding the leader lock runs the timed jobs, the backup, and the
broadcast and export workers.
"""
from __future__ import annotations

import os

from common.ipc.nudges import PeerNudges
from common.lifecycle import ServiceContext
from common.telegram.bot_api import BotApi
from services.scheduler.broadcast.worker import BroadcastWorker
from services.scheduler.charts.renderer import ChartRenderer
from services.scheduler.export.worker import ExportWorker
from services.scheduler.jobs.backup import BackupJob
from services.scheduler.jobs.export_cleanup import sweep_forever
from services.scheduler.jobs.timed import TimedJobs
from services.scheduler.leader import LeaderLock
from services.scheduler.leader_work import LeaderWork
from services.scheduler.repositories import broadcasts as broadcasts_sql
from services.scheduler.repositories import exports as exports_sql
from services.scheduler.rpc.backups import BackupHandlers
from services.scheduler.rpc.broadcast_quote import BroadcastQuoteHandler
from services.scheduler.rpc.broadcasts import BroadcastHandlers
from services.scheduler.rpc.charts import ChartHandlers
from services.scheduler.rpc.exports import ExportHandlers
from services.scheduler.telegram.ratelimit import RateLimiter
from services.scheduler.wakeups import Wakeups
from services.scheduler.settings import Settings


async def setup(ctx: ServiceContext[Settings]) -> None:
    settings = ctx.settings
    config = settings.scheduler
    if config.scheduler_nice:
        # Broadcasts, exports and dumps are batch work on a box shared with the bot (and often
        # PostgreSQL): when the CPU is contended, the chat goes first. pg_dump inherits it.
        os.nice(config.scheduler_nice)
    url = settings.database.url()
    wakeups = Wakeups()
    nudger = PeerNudges(ctx.client, config.scheduler_nudge_timeout, ("bot", "vpn_gateway"))
    work = LeaderWork(on_restart=lambda task: ctx.metrics.task_restarts.labels(f"leader.{task}").inc())

    timed = TimedJobs(ctx.db, settings, nudger)
    backup = BackupJob(ctx.db, config, url, wakeups)
    work.add("timed_jobs", timed.run)
    work.add("backup", backup.run)
    ctx.add_detail("jobs", timed.describe)
    ctx.add_detail("backup", backup.describe)

    token = settings.telegram.bot_token
    api: BotApi | None = None
    if token is not None and token.get_secret_value():
        api = BotApi(settings.telegram.telegram_api_url, token.get_secret_value(),
                     timeout=settings.telegram.request_timeout,
                     connections=max(config.broadcast_concurrency, config.broadcast_paid_concurrency))
        limiter = RateLimiter(config.broadcast_rate, config.broadcast_chat_interval,
                              paid_rate=config.broadcast_paid_rate)
        broadcasts = BroadcastWorker(ctx.db, api, limiter, config, wakeups)
        exports = ExportWorker(ctx.db, api, limiter, config, wakeups)
        work.add("broadcasts", broadcasts.run, drain=broadcasts.drain)
        work.add("exports", exports.run)
        ctx.add_detail("broadcast", broadcasts.describe)
        ctx.add_detail("export", exports.describe)
        ctx.on_shutdown(api.close)

    leader_gauge = ctx.metrics.gauge("atcs_scheduler_leader", "1 while this scheduler holds the leader lock")
    lock = LeaderLock(url, retry_interval=config.leader_retry_interval, check_interval=config.leader_check_interval,
                      connect_timeout=settings.database.db_connect_timeout, on_notify=wakeups.fire,
                      on_change=lambda role: leader_gauge.set(1 if role == "leader" else 0))
    ctx.supervise("leader", lambda: lock.run(work.run))
    ctx.on_drain(work.drain)
    ctx.supervise("nudges", nudger.run)
    ctx.supervise("export_sweep", lambda: sweep_forever(config.export_dir, config.export_keep_hours))
    ctx.add_readiness("leader", lock.readiness)
    ctx.add_detail("leader", lambda: {**lock.describe(), "tasks": work.names()})

    BroadcastHandlers(ctx.db, settings).register(ctx)
    BroadcastQuoteHandler(ctx.db, settings, api).register(ctx)
    ExportHandlers(ctx.db, settings).register(ctx)
    BackupHandlers(ctx.db, settings).register(ctx)
    charts = ChartRenderer(ctx.db)
    ChartHandlers(charts, settings).register(ctx)
    ctx.add_detail("charts", charts.describe)
    ctx.on_shutdown(charts.close)

    ctx.add_db_queue("broadcast_recipients", broadcasts_sql.remaining)
    ctx.add_db_queue("exports", exports_sql.open_count)
