"""/healthz (alive), /readyz (can work: database and dependencies), /metrics (Prometheus)."""
from __future__ import annotations

import orjson
from aiohttp import web

from common.lifecycle.context import ServiceContext


def health_app(ctx: ServiceContext) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "service": ctx.name, "pid": ctx.pid}, dumps=_dumps)

    async def readyz(_: web.Request) -> web.Response:
        ready, reasons = await ctx.readiness()
        ctx.metrics.ready.set(1 if ready else 0)
        body = {"ready": ready, "service": ctx.name, "reasons": reasons}
        return web.json_response(body, status=200 if ready else 503, dumps=_dumps)

    async def metrics(_: web.Request) -> web.Response:
        stats = ctx.db.stats()
        ctx.metrics.db_pool_size.set(int(stats["size"] or 0))
        ctx.metrics.db_pool_idle.set(int(stats["idle"] or 0))
        ready, _ = await ctx.readiness()
        ctx.metrics.ready.set(1 if ready else 0)
        await ctx.queue_depths()
        return web.Response(body=ctx.metrics.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
