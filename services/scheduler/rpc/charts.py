"""RPC handler of the admin's chart: checks the admin, then asks the renderer (cached for a minute,
drawn off the event loop)."""
from __future__ import annotations

import asyncpg

from services.scheduler.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.scheduler import RENDER_CHART, Chart, ChartQuery
from common.ipc import RpcError
from common.lifecycle import ServiceContext
from services.scheduler.charts.renderer import ChartRenderer
from services.scheduler.rpc.admins import require_admin


class ChartHandlers:
    def __init__(self, renderer: ChartRenderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings

    def register(self, ctx: ServiceContext) -> None:
        ctx.rpc.handle(RENDER_CHART, self.render)

    async def render(self, request: ChartQuery) -> Chart:
        # Revenue is the shop's business: the scheduler checks the admin again, as for its jobs.
        require_admin(self.settings, request.admin_id)
        try:
            return await self.renderer.chart(request.days, request.locale)
        except asyncpg.QueryCanceledError:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "the statistics query took too long; try again") from None
