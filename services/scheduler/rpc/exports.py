"""RPC handlers of CSV exports: write the job row and wake the leader; read its state."""
from __future__ import annotations

from services.scheduler.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.scheduler import EXPORT_STATE, START_EXPORT, ExportQuery, ExportState, StartExport
from common.db.database import Database
from common.ipc import RpcError
from common.lifecycle import ServiceContext
from services.scheduler.export.state import to_state
from services.scheduler.repositories import audit
from services.scheduler.repositories import exports as repo
from services.scheduler.repositories.leader import notify
from services.scheduler.rpc.admins import require_admin, require_telegram


class ExportHandlers:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def register(self, ctx: ServiceContext) -> None:
        ctx.rpc.handle(START_EXPORT, self.start)
        ctx.rpc.handle(EXPORT_STATE, self.state)

    async def start(self, request: StartExport) -> ExportState:
        require_admin(self.settings, request.admin_id)
        require_telegram(self.settings)
        async with self.db.transaction() as conn:
            row, created = await repo.create(conn, request)
            if not created:
                if row["kind"] != request.kind:
                    raise RpcError(RpcErrorCode.CONFLICT, "this request_id was used for another export")
                return to_state(row)
            await audit.record(conn, request.admin_id, "export_start", f"export:{row['id']}", {"kind": request.kind})
            await notify(conn, "export")
        return to_state(row)

    async def state(self, request: ExportQuery) -> ExportState:
        async with self.db.acquire() as conn:
            row = await repo.get(conn, request.export_id)
        if row is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, f"no export {request.export_id}")
        return to_state(row)
