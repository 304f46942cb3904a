"""What one activation row does to the panel: the decisions, with the panel calls in between
short reads. It never holds a database connection while a panel is called, and returns what to
record (`Outcome`); the worker writes that, finishes the row and queues the notice in one
transaction.

Every action reads the user's subscription at run time, so rows are idempotent and their order
does not matter: issue/extend/set_limit make the account match the subscription (creating it if
missing), expire is a no-op for a user who renewed meanwhile, a revoke older than a later grant
is a no-op, and every create first looks the account up by our external id.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from common.contract.outbox import Activation, Notice
from common.db.database import Database
from services.vpn_gateway.repositories import accounts as accounts_repo
from services.vpn_gateway.repositories.accounts import Account, Subscription
from services.vpn_gateway.repositories.activations import Claimed
from services.vpn_gateway.panels.base import (
    AccessSpec, AccountExists, PanelAccount, PanelBackend, PanelRejected, PanelUnavailable,
)
from services.vpn_gateway.panels.pool import Server, ServerPool

# Panels keep expiry to the millisecond (Remnawave) or not at all; closer than this is "equal".
EXPIRY_TOLERANCE = timedelta(seconds=1)


class NoServerAvailable(PanelUnavailable):
    pass


@dataclass(frozen=True)
class Outcome:
    """What to record when the row is finished."""
    active: tuple[Server, PanelAccount, AccessSpec] | None = None   # the account as it now is
    revoked: bool = False
    keep_panel_id: str | None = None    # revoked but disabled (not deleted) on the panel
    notice: Notice | None = None
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""                      # why nothing was done, for the log


class Provisioner:
    def __init__(self, db: Database, pool: ServerPool) -> None:
        self.db = db
        self.pool = pool
        # Placing reads the loads and records the choice; two placements at once would both see
        # the same loads and pile onto one server. Only database work happens under it.
        self._placing = asyncio.Lock()

    async def run(self, job: Claimed) -> Outcome:
        async with self.db.acquire() as conn:
            sub = await accounts_repo.get_subscription(conn, job.user_id)
            account = await accounts_repo.get_account(conn, job.user_id)
        action = Activation(job.action)
        if action in (Activation.ISSUE, Activation.EXTEND, Activation.SET_LIMIT):
            return await self._converge(job, action, sub, account)
        if action is Activation.REISSUE:
            return await self._reissue(job, sub, account)
        if action is Activation.REVOKE:
            return await self._revoke(job, sub, account)
        return await self._expire(sub, account)

    # ---- actions -----------------------------------------------------------------------------
    async def _converge(self, job: Claimed, action: Activation, sub: Subscription | None,
                        account: Account | None) -> Outcome:
        if sub is None or not sub.grants_access(_now()):
            return Outcome(note="no active subscription")
        server, account = await self._place(job.user_id, account)
        spec = _spec(sub)
        panel = await self._ensure(server, account.external_id, spec, account.access_key)
        delivered = panel.access_key != account.access_key or account.status != "active"
        expires = sub.expires_at.isoformat()
        if action is Activation.ISSUE or delivered:
            notice, params = Notice.KEY_READY, {"expires_at": expires, "is_trial": sub.is_trial}
        elif action is Activation.EXTEND and job.payload.get("reason") != "refund":
            # (A refund that shortens the subscription is told by payments' REFUNDED notice.)
            # (An unfreeze is told by the key it delivers: the freeze took the account off.)
            notice, params = Notice.SUBSCRIPTION_EXTENDED, {"expires_at": expires}
        else:
            notice, params = None, {}
        return Outcome(active=(server, panel, spec), notice=notice, params=params)

    async def _reissue(self, job: Claimed, sub: Subscription | None, account: Account | None) -> Outcome:
        if sub is None or not sub.grants_access(_now()):
            return Outcome(note="no active subscription")
        server, account = await self._place(job.user_id, account)
        spec = _spec(sub)
        panel = await server.backend.find(account.external_id)
        if panel is not None:
            panel = await server.backend.keep_key(panel, account.access_key)
        if panel is None:
            panel = await self._ensure(server, account.external_id, spec, account.access_key)
        elif panel.access_key != account.access_key:
            # Its key is not the one we hold: an earlier attempt of this row already rotated it (and
            # died before recording), or the old key never reached the user. Either way the key now
            # on the panel is new to them: no second rotation, only expiry and limits brought in line.
            panel = await self._align(server.backend, panel, spec)
        else:
            panel = await server.backend.reissue(panel)
        return Outcome(active=(server, panel, spec), notice=Notice.KEY_REISSUED, params={})

    async def _revoke(self, job: Claimed, sub: Subscription | None, account: Account | None) -> Outcome:
        if sub is not None and sub.status == "active" and sub.updated_at > job.created_at:
            return Outcome(note="access granted again after this revoke was queued")
        if account is None or account.deleted:
            return Outcome(note="no account to revoke")
        server = self._server_of(account)
        panel = await server.backend.find(account.external_id)
        if panel is not None:
            await server.backend.revoke(panel)
        reason = str(job.payload.get("reason") or "admin")
        notice = Notice.ACCESS_REVOKED if account.status == "active" else None
        return Outcome(revoked=True, notice=notice, params={"reason": reason})

    async def _expire(self, sub: Subscription | None, account: Account | None) -> Outcome:
        if sub is not None and sub.grants_access(_now()):
            return Outcome(note="renewed since")
        if account is None or account.deleted:
            return Outcome(note="no account to expire")
        server = self._server_of(account)
        backend = server.backend
        panel = await backend.find(account.external_id)
        if panel is None:
            return Outcome(revoked=True)
        if backend.capabilities.can_disable:
            # Kept, switched off: a renewal switches it on again with the same key.
            if panel.enabled:
                panel = await backend.update(panel, enabled=False)
            return Outcome(revoked=True, keep_panel_id=panel.panel_id)
        # Outline has no expiry and no off switch: expiry is enforced by deleting the key.
        await backend.revoke(panel)
        return Outcome(revoked=True)

    # ---- helpers -----------------------------------------------------------------------------
    def _server_of(self, account: Account) -> Server:
        server = self.pool.get(account.server)
        if server is None:
            raise PanelRejected(f"server {account.server} of user {account.user_id} is not in ATCS_VPN_SERVERS")
        return server

    async def _place(self, user_id: int, account: Account | None) -> tuple[Server, Account]:
        """The server the user's account is (to be) on, recorded before any panel call."""
        if account is not None:
            server = self.pool.get(account.server)
            if not account.deleted:
                if server is None:
                    raise PanelRejected(f"server {account.server} of user {user_id} is not in ATCS_VPN_SERVERS")
                return server, account
            if server is not None and server.takes_new_users():
                return server, account
        async with self._placing, self.db.transaction() as conn:
            chosen = self.pool.choose(await accounts_repo.server_loads(conn))
            if chosen is None:
                raise NoServerAvailable("no healthy server with room for new users",
                                        retry_after=self.pool.retry_in() or None)
            if account is None:
                placed = await accounts_repo.assign(conn, user_id, chosen.name, chosen.kind)
            else:
                placed = await accounts_repo.move(conn, user_id, chosen.name, chosen.kind) \
                    or await accounts_repo.get_account(conn, user_id)
        assert placed is not None
        # Another row may have placed the user first: the recorded server wins.
        return self._server_of(placed), placed

    async def _ensure(self, server: Server, external_id: str, spec: AccessSpec,
                      known_key: str | None) -> PanelAccount:
        """Find-or-create, then bring expiry, limit and on/off in line with the spec; the key we
        hold is kept where it still works (backend.keep_key)."""
        backend = server.backend
        panel = await backend.find(external_id)
        if panel is None:
            try:
                return await backend.create(external_id, spec)
            except AccountExists:
                panel = await backend.find(external_id)
                if panel is None:
                    raise PanelUnavailable(f"{server.name}: account reported as existing but not found") from None
        panel = await self._align(backend, panel, spec)
        return await backend.keep_key(panel, known_key)

    @staticmethod
    async def _align(backend: PanelBackend, panel: PanelAccount, spec: AccessSpec) -> PanelAccount:
        """Expiry, traffic limit, device limit and on/off of an existing account brought in line with
        the spec. The devices the panel has seen are never touched: only the user removes one."""
        changes: dict[str, Any] = {}
        if backend.capabilities.enforces_expiry and (
                panel.expires_at is None or abs(panel.expires_at - spec.expires_at) > EXPIRY_TOLERANCE):
            changes["expires_at"] = spec.expires_at
        if panel.traffic_limit_bytes != spec.traffic_limit_bytes:
            changes["traffic_limit_bytes"] = spec.traffic_limit_bytes
        if backend.capabilities.device_limit and panel.device_limit != spec.device_limit:
            changes["device_limit"] = spec.device_limit
        if not panel.enabled:
            changes["enabled"] = True
        if changes:
            panel = await backend.update(panel, **changes)
        return panel


def _spec(sub: Subscription) -> AccessSpec:
    return AccessSpec(expires_at=sub.expires_at, traffic_limit_bytes=sub.panel_limit,
                      device_limit=sub.device_limit)


def _now() -> datetime:
    return datetime.now(timezone.utc)
