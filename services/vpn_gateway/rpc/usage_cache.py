"""Usage figures for the bot, fast even when a panel is slow.

A figure younger than `vpn_usage_cache_ttl` is served from memory. Otherwise the panel is asked,
but the answer waits at most `vpn_usage_timeout`: past that, the last figure known (memory, or
vpn_accounts.used_bytes) is served marked stale, while the panel call goes on in the background
and refreshes the cache for the next ask. One refresh per user at a time.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from common.contract.base import RpcErrorCode
from common.contract.vpn_gateway import Usage
from common.db.database import Database
from common.ipc.errors import RpcError
from services.vpn_gateway.repositories import accounts as accounts_repo
from services.vpn_gateway.repositories.accounts import Account
from services.vpn_gateway.panels.base import PanelAccount, PanelError
from services.vpn_gateway.panels.pool import ServerPool


@dataclass(frozen=True)
class _Entry:
    used_bytes: int
    as_of: datetime
    fetched: float            # monotonic


class UsageCache:
    def __init__(self, db: Database, pool: ServerPool, ttl: float, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.clock = clock
        self.pool = pool
        self.ttl = ttl
        self.timeout = timeout
        self._entries: dict[int, _Entry] = {}
        self._refreshing: dict[int, asyncio.Task] = {}

    async def get(self, user_id: int) -> Usage:
        async with self.db.acquire() as conn:
            account = await accounts_repo.get_account(conn, user_id)
        if account is None or account.panel_id is None or account.status != "active":
            raise RpcError(RpcErrorCode.NOT_FOUND, "no active VPN account")
        limit = account.traffic_limit_bytes or None
        entry = self._entries.get(user_id)
        if entry is not None and self.clock() - entry.fetched < self.ttl:
            return Usage(user_id=user_id, used_bytes=entry.used_bytes, limit_bytes=limit, as_of=entry.as_of, stale=False)
        task = self._refreshing.get(user_id)
        if task is None:
            task = asyncio.create_task(self._refresh(account), name=f"usage-{user_id}")
            self._refreshing[user_id] = task
            task.add_done_callback(lambda t, uid=user_id: self._refreshed(uid, t))
        try:
            # asyncio.timeout, not wait_for: see common/lifecycle/worker.py: nudged (a cancelled request must not answer).
            async with asyncio.timeout(self.timeout):
                entry = await asyncio.shield(task)
            return Usage(user_id=user_id, used_bytes=entry.used_bytes, limit_bytes=limit, as_of=entry.as_of, stale=False)
        except (TimeoutError, PanelError):
            pass
        entry = self._entries.get(user_id)
        if entry is not None:
            return Usage(user_id=user_id, used_bytes=entry.used_bytes, limit_bytes=limit, as_of=entry.as_of, stale=True)
        return Usage(user_id=user_id, used_bytes=account.used_bytes, limit_bytes=limit,
                     as_of=account.used_checked_at, stale=True)

    async def _refresh(self, account: Account) -> _Entry:
        server = self.pool.get(account.server)
        if server is None:
            raise PanelError(f"server {account.server} is not configured")
        panel = PanelAccount(panel_id=account.panel_id or "", external_id=account.external_id,
                             access_key=account.access_key or "", expires_at=account.expires_at,
                             traffic_limit_bytes=account.traffic_limit_bytes, enabled=True)
        used = await server.backend.usage(panel)
        entry = _Entry(used_bytes=int(used or 0), as_of=datetime.now(timezone.utc), fetched=self.clock())
        self._entries[account.user_id] = entry
        try:
            async with self.db.transaction() as conn:
                await accounts_repo.save_usage(conn, account.user_id, entry.used_bytes)
        except Exception:  # noqa: BLE001 - the figure is served from memory anyway
            pass
        return entry

    def _refreshed(self, user_id: int, task: asyncio.Task) -> None:
        self._refreshing.pop(user_id, None)
        if not task.cancelled():
            task.exception()  # retrieved: a refresh nobody waited for may fail quietly
        if len(self._entries) > 50_000:
            # Bound memory: figures past their TTL are only a fallback; drop them.
            cutoff = self.clock() - self.ttl
            for uid in [u for u, e in self._entries.items() if e.fetched < cutoff]:
                del self._entries[uid]

    def forget(self, user_id: int) -> None:
        self._entries.pop(user_id, None)

    async def close(self) -> None:
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
