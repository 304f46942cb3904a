"""Composition root of the vpn_gateway process: the only process that talks to VPN panels.

Parts, by package: panels/ (panel clients behind one interface, and the server pool with its
breakers and health probes: pool.py, breaker.py, health.py), provisioning/ (the activation worker
on the common worker loop, what one row does on a panel: provisioner.py, bulk reissue jobs:
bulk.py), rpc/ (the RPC handlers, the usage cache behind USAGE, the device list: devices.py) and repositories/ (the SQL,
with migrations/02xx).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from common.ipc.nudges import PeerNudges
from common.lifecycle import ServiceContext
from common.logging import register_secret
from services.vpn_gateway.repositories import activations as activations_repo
from services.vpn_gateway.repositories import bulk as bulk_repo
from services.vpn_gateway.provisioning.bulk import BulkReissuer
from services.vpn_gateway.panels.health import watch_health
from services.vpn_gateway.panels.pool import ServerPool
from services.vpn_gateway.rpc.devices import DeviceRpc
from services.vpn_gateway.rpc.handlers import GatewayRpc
from services.vpn_gateway.rpc.usage_cache import UsageCache
from services.vpn_gateway.provisioning.worker import ActivationWorker
from services.vpn_gateway.settings import Settings

BOT_NUDGE_DEADLINE = 0.5


async def setup(ctx: ServiceContext[Settings]) -> None:
    vpn = ctx.settings.vpn
    _register_secrets(ctx)
    pool = ServerPool.from_settings(vpn)

    bot_nudger = PeerNudges(ctx.client, BOT_NUDGE_DEADLINE, ("bot",))

    def notified() -> None:
        bot_nudger.nudge("bot")
    worker: ActivationWorker
    bulk = BulkReissuer(ctx.db, vpn.vpn_bulk_concurrency, on_queued=lambda: worker.nudge(),
                        on_notified=notified)
    worker = ActivationWorker(ctx.db, pool, vpn, on_notified=notified, on_done=bulk.activation_finished)
    pool.on_recover(worker.panel_recovered)
    usage = UsageCache(ctx.db, pool, ttl=vpn.vpn_usage_cache_ttl, timeout=vpn.vpn_usage_timeout)
    GatewayRpc(ctx.db, worker, usage, bulk).register(ctx.rpc)
    DeviceRpc(ctx.db, pool, vpn.vpn_devices_timeout).register(ctx.rpc)

    ctx.supervise("activations", worker.run)
    ctx.supervise("nudges", bot_nudger.run)
    ctx.supervise("bulk_reissue", bulk.run)
    if len(pool):
        ctx.supervise("panel_health", lambda: watch_health(pool, vpn.vpn_health_interval))

    ctx.add_readiness("panels", pool.readiness)
    ctx.add_db_queue("activations", activations_repo.pending_count)
    ctx.add_db_queue("activations_delayed", activations_repo.delayed_count)
    ctx.add_db_queue("bulk_reissue_items", bulk_repo.open_items)
    ctx.add_detail("panels", pool.describe)
    ctx.add_detail("activation_worker", lambda: {"in_flight": worker.in_flight, "done": worker.done_count,
                                                 "failed_attempts": worker.failed_attempts})

    async def drain() -> None:
        await worker.drain(grace=ctx.settings.health.shutdown_timeout / 4)

    ctx.on_drain(drain)
    ctx.on_shutdown(pool.close)
    ctx.on_shutdown(usage.close)


def _register_secrets(ctx: ServiceContext) -> None:
    """Panel tokens, panel login passwords and Outline's secret URL path are scrubbed from every log line.
    (Login usernames are not: "admin" scrubbed from every line would hide more than it protects.)"""
    for server in ctx.settings.vpn.servers:
        url = server.api_url.get_secret_value()
        register_secret(url)
        path = urlsplit(url).path.strip("/")
        if server.backend == "outline" and path:
            register_secret(path)   # Outline's path prefix is its credential
        if server.token is not None:
            register_secret(server.token.get_secret_value())
        if server.admin_password is not None:
            register_secret(server.admin_password.get_secret_value())
