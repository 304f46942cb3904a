"""The admin console's calls, each to the service that owns the work (issue 7, item 6):
broadcasts, exports and the chart to scheduler, reissues to vpn_gateway, refunds to payments, and STATUS to
every service. The bot only starts and steers these jobs; it never loops over users itself.

Every method raises RpcError (RpcTimeout included) after at most `bot_admin_deadline` seconds
(or the timeout given, for a follow-up that keeps trying).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from common.settings.ipc import SERVICES
from services.bot.settings import BotSettings
from common.contract.core import STATUS, StatusResult
from common.contract.payments import REFUND, PurchaseRef, PurchaseState
from common.contract.scheduler import (
    CANCEL_BROADCAST, LIST_BROADCASTS, PAUSE_BROADCAST, RENDER_CHART, RESUME_BROADCAST, START_BROADCAST,
    START_EXPORT, BroadcastAction, BroadcastControl, BroadcastList, BroadcastState, Chart, ChartQuery, ExportState,
    ListBroadcasts, StartBroadcast, StartExport,
)
from common.contract.scheduler import QUOTE_BROADCAST, BroadcastQuote, QuoteBroadcast
from common.contract.vpn_gateway import (
    BULK_REISSUE, BULK_REISSUE_CANCEL, BULK_REISSUE_STATE, REISSUE, BulkReissue, Enqueued, JobRef, JobState,
    UserAction,
)
from common.ipc import RpcClient, RpcError

_CONTROLS = {"pause": PAUSE_BROADCAST, "resume": RESUME_BROADCAST, "cancel": CANCEL_BROADCAST}


class AdminPeers:
    def __init__(self, client: Callable[[str], RpcClient], settings: BotSettings) -> None:
        self._client = client
        self.deadline = settings.bot_admin_deadline

    # scheduler: broadcasts, exports, the chart
    async def start_broadcast(self, request: StartBroadcast) -> BroadcastState:
        return await self._client("scheduler").call(START_BROADCAST, request, timeout=self.deadline)

    async def quote_broadcast(self, request: QuoteBroadcast) -> BroadcastQuote:
        return await self._client("scheduler").call(QUOTE_BROADCAST, request, timeout=self.deadline)

    async def control_broadcast(self, action: BroadcastAction, request: BroadcastControl) -> BroadcastState:
        return await self._client("scheduler").call(_CONTROLS[action], request, timeout=self.deadline)

    async def recent_broadcasts(self, limit: int = 3) -> BroadcastList:
        return await self._client("scheduler").call(LIST_BROADCASTS, ListBroadcasts(limit=limit),
                                                     timeout=self.deadline)

    async def start_export(self, request: StartExport) -> ExportState:
        return await self._client("scheduler").call(START_EXPORT, request, timeout=self.deadline)

    async def chart(self, request: ChartQuery, timeout: float | None = None) -> Chart:
        return await self._client("scheduler").call(RENDER_CHART, request, timeout=timeout or self.deadline)

    # vpn_gateway: one user's key, or every active user's
    async def reissue(self, request: UserAction) -> Enqueued:
        return await self._client("vpn_gateway").call(REISSUE, request, timeout=self.deadline)

    async def bulk_reissue(self, request: BulkReissue) -> JobRef:
        return await self._client("vpn_gateway").call(BULK_REISSUE, request, timeout=self.deadline)

    async def bulk_state(self, job_id: int) -> JobState:
        return await self._client("vpn_gateway").call(BULK_REISSUE_STATE, JobRef(job_id=job_id),
                                                       timeout=self.deadline)

    async def bulk_cancel(self, job_id: int) -> JobState:
        return await self._client("vpn_gateway").call(BULK_REISSUE_CANCEL, JobRef(job_id=job_id),
                                                       timeout=self.deadline)

    # payments
    async def refund(self, request: PurchaseRef) -> PurchaseState:
        return await self._client("payments").call(REFUND, request, timeout=self.deadline)

    # every service
    async def statuses(self, timeout: float) -> dict[str, StatusResult | RpcError]:
        """STATUS of each service at once; a service that does not answer in `timeout` is its error."""
        async def one(service: str) -> StatusResult | RpcError:
            try:
                return await self._client(service).call(STATUS, timeout=timeout)
            except RpcError as exc:
                return exc

        results = await asyncio.gather(*(one(service) for service in SERVICES))
        return dict(zip(SERVICES, results, strict=True))
