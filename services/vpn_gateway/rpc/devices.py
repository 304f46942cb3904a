"""DEVICES and REMOVE_DEVICE: a user's devices as their panel sees them, and the removal of one.

Both ask the panel while the bot waits, so each call is bounded by `vpn_devices_timeout` (well
inside the bot's deadline); a panel slower than that, down, or refusing is UNAVAILABLE and the bot
says "try again". Nothing here is queued: a device list is only worth having now, and a removal
the user does not see happen is one they would tap again. What a backend cannot do (list devices,
limit them) is said in the answer's `support`, never an error.
"""
from __future__ import annotations

import asyncio
import logging

from common.contract.base import RpcErrorCode
from common.contract.vpn_gateway import (
    DEVICES, REMOVE_DEVICE, DeviceInfo, DeviceRemoved, Devices, DevicesQuery, RemoveDevice,
)
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.server import RpcServer
from services.vpn_gateway.panels.base import PanelAccount, PanelError
from services.vpn_gateway.panels.pool import Server, ServerPool
from services.vpn_gateway.repositories import accounts as accounts_repo

log = logging.getLogger(__name__)


class DeviceRpc:
    def __init__(self, db: Database, pool: ServerPool, timeout: float) -> None:
        self.db = db
        self.pool = pool
        self.timeout = timeout

    def register(self, server: RpcServer) -> None:
        server.handle(DEVICES, self.devices)
        server.handle(REMOVE_DEVICE, self.remove)

    async def devices(self, request: DevicesQuery) -> Devices:
        limit, found = await self._account(request.user_id)
        if found is None:
            return Devices(user_id=request.user_id, limit=limit, support="no_account")
        server, panel = found
        capabilities = server.backend.capabilities
        if not capabilities.device_limit:
            return Devices(user_id=request.user_id, limit=limit, support="none")
        if not capabilities.device_list:
            return Devices(user_id=request.user_id, limit=limit, support="limit_only")
        devices = await self._bounded(server.backend.devices(panel), "list")
        return Devices(user_id=request.user_id, limit=limit, support="listed", devices=[
            DeviceInfo(device_id=d.device_id, platform=d.platform, model=d.model, os_version=d.os_version,
                       last_seen=d.last_seen) for d in devices])

    async def remove(self, request: RemoveDevice) -> DeviceRemoved:
        limit, found = await self._account(request.user_id)
        if found is None or not found[0].backend.capabilities.device_list:
            raise RpcError(RpcErrorCode.CONFLICT, "the user's panel does not list devices")
        server, panel = found
        removed = await self._bounded(server.backend.remove_device(panel, request.device_id), "remove")
        if removed:
            log.info("device removed at the user's request", extra={"user_id": request.user_id, "server": server.name})
        return DeviceRemoved(removed=removed, devices=await self.devices(DevicesQuery(user_id=request.user_id)))

    async def _account(self, user_id: int) -> tuple[int, tuple[Server, PanelAccount] | None]:
        async with self.db.acquire() as conn:
            sub = await accounts_repo.get_subscription(conn, user_id)
            account = await accounts_repo.get_account(conn, user_id)
        limit = sub.device_limit if sub is not None else 0
        # A switched-off account (expired, paused) still has its devices on the panel: panel_id is kept.
        if account is None or account.panel_id is None:
            return limit, None
        server = self.pool.get(account.server)
        if server is None:
            return limit, None
        panel = PanelAccount(panel_id=account.panel_id, external_id=account.external_id,
                             access_key=account.access_key or "", expires_at=account.expires_at,
                             traffic_limit_bytes=account.traffic_limit_bytes, enabled=account.status == "active")
        return limit, (server, panel)

    async def _bounded(self, call, what: str):
        try:
            # asyncio.timeout, not wait_for: see common/lifecycle/worker.py: nudged.
            async with asyncio.timeout(self.timeout):
                return await call
        except TimeoutError:
            raise RpcError(RpcErrorCode.UNAVAILABLE, f"the panel did not answer the device {what} in time") from None
        except PanelError as exc:
            log.warning("device call failed", extra={"what": what, "error": str(exc)})
            raise RpcError(RpcErrorCode.UNAVAILABLE, f"the panel could not {what} devices now") from None
