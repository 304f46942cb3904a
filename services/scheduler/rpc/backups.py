"""RPC handlers of backups: an admin's "backup now", and the state of a run."""
from __future__ import annotations

import asyncpg
import orjson

from services.scheduler.settings import Settings
from common.contract.base import RpcErrorCode
from common.contract.scheduler import BACKUP_STATE, RUN_BACKUP, BackupQuery, BackupState, StartBackup
from common.db.database import Database
from common.ipc import RpcError
from common.lifecycle import ServiceContext
from services.scheduler.jobs.backup import JOB
from services.scheduler.repositories import audit, job_runs
from services.scheduler.repositories.leader import notify
from services.scheduler.rpc.admins import require_admin


class BackupHandlers:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def register(self, ctx: ServiceContext) -> None:
        ctx.rpc.handle(RUN_BACKUP, self.run)
        ctx.rpc.handle(BACKUP_STATE, self.state)

    async def run(self, request: StartBackup) -> BackupState:
        require_admin(self.settings, request.admin_id)
        period = f"manual:{request.admin_id}:{request.request_id}"
        async with self.db.transaction() as conn:
            row, created = await job_runs.request(conn, JOB, period, request.admin_id)
            if created:
                await audit.record(conn, request.admin_id, "backup_run", f"backup:{period}")
                await notify(conn, JOB)
        return _state(row)

    async def state(self, request: BackupQuery) -> BackupState:
        async with self.db.acquire() as conn:
            if request.period is None:
                row = await job_runs.latest(conn, JOB)
            else:
                row = await job_runs.get(conn, JOB, request.period)
        if row is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, "no such backup run")
        return _state(row)


def _state(row: asyncpg.Record) -> BackupState:
    result = row["result"]
    if isinstance(result, str):
        result = orjson.loads(result)
    return BackupState(period=row["period"], state=row["state"], file_name=result.get("file"),
                       bytes=result.get("bytes"), error=row["error"], created_at=row["created_at"],
                       finished_at=row["finished_at"])
