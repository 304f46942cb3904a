"""RPC handlers of broadcasts. They only write and read rows (any scheduler can serve them, the
leader or a standby); a NOTIFY in the same transaction wakes the leader's worker."""
from __future__ import annotations

from services.scheduler.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.scheduler import (BROADCAST_STATE, CANCEL_BROADCAST, LIST_BROADCASTS, PAUSE_BROADCAST,
                                       RESUME_BROADCAST, START_BROADCAST, BroadcastControl, BroadcastList,
                                       BroadcastQuery, BroadcastState, ListBroadcasts, StartBroadcast)
from common.db.database import Database
from common.ipc import RpcError
from common.lifecycle import ServiceContext
from services.scheduler.broadcast.state import to_state
from services.scheduler.repositories import audit
from services.scheduler.repositories import broadcasts as repo
from services.scheduler.repositories.leader import notify
from services.scheduler.rpc.admins import require_admin, require_telegram

# action -> (states it applies to, state it leads to)
_CONTROLS = {
    "pause": (("queued", "running"), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("queued", "running", "paused"), "cancelled"),
}


class BroadcastHandlers:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.config = settings.scheduler

    def register(self, ctx: ServiceContext) -> None:
        ctx.rpc.handle(START_BROADCAST, self.start)
        ctx.rpc.handle(BROADCAST_STATE, self.state)
        ctx.rpc.handle(LIST_BROADCASTS, self.list)
        ctx.rpc.handle(PAUSE_BROADCAST, lambda request: self.control(request, "pause"))
        ctx.rpc.handle(RESUME_BROADCAST, lambda request: self.control(request, "resume"))
        ctx.rpc.handle(CANCEL_BROADCAST, lambda request: self.control(request, "cancel"))

    async def start(self, request: StartBroadcast) -> BroadcastState:
        require_admin(self.settings, request.admin_id)
        require_telegram(self.settings)
        async with self.db.transaction() as conn:
            row, created = await repo.create(conn, request)
            if not created:
                if (row["text"], row["parse_mode"], row["audience"], row["language"], row["link_preview"],
                        row["paid"]) != (request.text, request.parse_mode, request.audience, request.language,
                                         request.link_preview, request.paid):
                    raise RpcError(RpcErrorCode.CONFLICT, "this request_id was used for another broadcast")
                return to_state(row, self.config)
            await audit.record(conn, request.admin_id, "broadcast_start", f"broadcast:{row['id']}",
                               {"audience": request.audience, "language": request.language,
                                "length": len(request.text), "paid": request.paid})
            await notify(conn, "broadcast")
        return to_state(row, self.config)

    async def state(self, request: BroadcastQuery) -> BroadcastState:
        async with self.db.acquire() as conn:
            row = await repo.get(conn, request.broadcast_id)
        if row is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, f"no broadcast {request.broadcast_id}")
        return to_state(row, self.config)

    async def list(self, request: ListBroadcasts) -> BroadcastList:
        async with self.db.acquire() as conn:
            rows = await repo.recent(conn, request.limit)
        return BroadcastList(broadcasts=[to_state(row, self.config) for row in rows])

    async def control(self, request: BroadcastControl, action: str) -> BroadcastState:
        require_admin(self.settings, request.admin_id)
        applies_to, target = _CONTROLS[action]
        async with self.db.transaction() as conn:
            row = await repo.get(conn, request.broadcast_id)
            if row is None:
                raise RpcError(RpcErrorCode.NOT_FOUND, f"no broadcast {request.broadcast_id}")
            if row["state"] == target:
                return to_state(row, self.config)   # asked twice: same answer
            if row["state"] not in applies_to:
                raise RpcError(RpcErrorCode.CONFLICT, f"broadcast {row['id']} is {row['state']}: cannot {action}")
            if action == "resume" and row["started_at"] is None:
                target = "queued"   # paused before its recipients were written
            moved = await repo.move(conn, row["id"], applies_to, target)
            if moved is None:
                raise RpcError(RpcErrorCode.CONFLICT, f"broadcast {row['id']} changed meanwhile; ask again")
            await audit.record(conn, request.admin_id, f"broadcast_{action}", f"broadcast:{row['id']}")
            await notify(conn, "broadcast")
        return to_state(moved, self.config)
