"""RPC handlers for the bot and payments (contract: common/contract/vpn_gateway.py).

Writes only enqueue: each request becomes an activation row keyed by its request_id (so a
retried request returns the row the first one made) and nudges the worker; the panel is never
called while the caller waits, except for USAGE, which is bounded and falls back to a cache.
"""
from __future__ import annotations

from common.contract.base import RpcErrorCode
from common.contract.outbox import Activation
from common.contract.vpn_gateway import (
    BULK_REISSUE, BULK_REISSUE_CANCEL, BULK_REISSUE_STATE, EXTEND, ISSUE, NUDGE_ACTIVATIONS, REISSUE, REVOKE, USAGE,
    BulkReissue, Enqueued, JobRef, JobState, Nudge, Nudged, Usage, UsageQuery, UserAction,
)
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.server import RpcServer
from common.shop.access import grant_days
from common.shop.outbox import enqueue_activation
from services.vpn_gateway.repositories import accounts as accounts_repo
from services.vpn_gateway.repositories import activations as activations_repo
from services.vpn_gateway.provisioning.bulk import BulkReissuer
from services.vpn_gateway.rpc.usage_cache import UsageCache
from services.vpn_gateway.provisioning.worker import ActivationWorker

# An issue that found no subscription row becomes one that made it, and the other way round.
_SAME = {Activation.ISSUE: {Activation.ISSUE, Activation.EXTEND},
         Activation.EXTEND: {Activation.ISSUE, Activation.EXTEND}}


class GatewayRpc:
    def __init__(self, db: Database, worker: ActivationWorker, usage: UsageCache, bulk: BulkReissuer) -> None:
        self.db = db
        self.worker = worker
        self.usage_cache = usage
        self.bulk = bulk

    def register(self, server: RpcServer) -> None:
        server.handle(NUDGE_ACTIVATIONS, self.nudge)
        server.handle(ISSUE, self.issue)
        server.handle(EXTEND, self.extend)
        server.handle(REVOKE, self.revoke)
        server.handle(REISSUE, self.reissue)
        server.handle(USAGE, self.usage)
        server.handle(BULK_REISSUE, self.bulk_reissue)
        server.handle(BULK_REISSUE_STATE, self.bulk_state)
        server.handle(BULK_REISSUE_CANCEL, self.bulk_cancel)

    async def nudge(self, _: Nudge) -> Nudged:
        self.worker.nudge()
        async with self.db.acquire() as conn:
            return Nudged(pending=await activations_repo.pending_count(conn))

    async def issue(self, request: UserAction) -> Enqueued:
        return await self._enqueue(Activation.ISSUE, request)

    async def extend(self, request: UserAction) -> Enqueued:
        return await self._enqueue(Activation.EXTEND, request)

    async def revoke(self, request: UserAction) -> Enqueued:
        return await self._enqueue(Activation.REVOKE, request)

    async def reissue(self, request: UserAction) -> Enqueued:
        return await self._enqueue(Activation.REISSUE, request)

    async def _enqueue(self, action: Activation, request: UserAction) -> Enqueued:
        if request.days is not None and (request.days <= 0 or action not in (Activation.ISSUE, Activation.EXTEND)):
            raise RpcError(RpcErrorCode.BAD_REQUEST, "days must be positive, and only for issue or extend")
        key = f"rpc:{request.request_id}"
        async with self.db.transaction() as conn:
            await activations_repo.lock_key(conn, key)
            existing = await activations_repo.by_key(conn, key)
            if existing is not None:
                if existing.action not in _SAME.get(action, {action}):
                    raise RpcError(RpcErrorCode.CONFLICT, f"request_id was used for {existing.action}")
                return Enqueued(activation_id=existing.id, state=existing.state)
            if not await accounts_repo.user_exists(conn, request.user_id):
                raise RpcError(RpcErrorCode.NOT_FOUND, "no such user")
            payload = {"reason": "rpc"}
            if request.days is not None:
                # Days granted through the one rule every grant goes through; it writes the row.
                grant = await grant_days(conn, request.user_id, request.days, key=key, reason="rpc")
                activation_id = grant.activation_id
            else:
                if action is Activation.REVOKE:
                    await accounts_repo.revoke_subscription(conn, request.user_id)
                activation_id = await enqueue_activation(conn, request.user_id, action, key, payload)
        assert activation_id is not None  # the key was checked under its lock
        self.worker.nudge()
        return Enqueued(activation_id=activation_id, state="pending")

    async def usage(self, request: UsageQuery) -> Usage:
        return await self.usage_cache.get(request.user_id)

    async def bulk_reissue(self, request: BulkReissue) -> JobRef:
        job_id = await self.bulk.create(request.admin_id, request.request_id, request.scope)
        return JobRef(job_id=job_id)

    async def bulk_state(self, request: JobRef) -> JobState:
        state = await self.bulk.state(request.job_id)
        if state is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, "no such job")
        return state

    async def bulk_cancel(self, request: JobRef) -> JobState:
        state = await self.bulk.cancel(request.job_id)
        if state is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, "no such job")
        return state
