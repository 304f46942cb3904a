"""The activation worker: works off the activation outbox until every row is done.

The loop is common/lifecycle/worker.py's: it claims due rows (a short transaction that leases
them), runs each in its own task up to `vpn_worker_concurrency` at once, and wakes on a nudge,
on a finished task, on a panel coming back, or every `vpn_scan_interval` seconds (the scan picks
up whatever a lost nudge missed). Rows of a server that already has `max_concurrency` rows in work are left in the queue,
so a slow panel holds only its own share of the slots; per-server request limits and breakers sit
below, in the panel clients.

A failed attempt is retried with exponential backoff (or when the breaker or a 429 says); after
`vpn_max_attempts` admins get an alert and the user an ACTIVATION_DELAYED notice, once, and the
retries go on. A worker killed mid-attempt leaves a lease that the next start releases.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
from collections import Counter
from collections.abc import Callable

from services.vpn_gateway.settings import VpnSettings
from common.contract.outbox import Activation, Notice
from common.db.database import Database, DatabaseUnavailable
from common.lifecycle.worker import WorkerLoop
from common.shop.outbox import enqueue_admin_alert, enqueue_notification
from services.vpn_gateway.repositories import accounts as accounts_repo
from services.vpn_gateway.repositories import activations as activations_repo
from services.vpn_gateway.repositories.activations import Claimed
from services.vpn_gateway.panels.base import PanelError
from services.vpn_gateway.panels.pool import ServerPool
from services.vpn_gateway.provisioning.provisioner import Outcome, Provisioner

log = logging.getLogger(__name__)

# Actions a user waits for: they are told when one is late.
USER_FACING = {Activation.ISSUE, Activation.EXTEND, Activation.REISSUE}


class ActivationWorker:
    def __init__(self, db: Database, pool: ServerPool, settings: VpnSettings, *,
                 on_notified: Callable[[], None] | None = None,
                 on_done: Callable[[], None] | None = None) -> None:
        self.db = db
        self.pool = pool
        self.settings = settings
        self.provisioner = Provisioner(db, pool)
        # Who holds a lease: gateways on several hosts share the queue (docs/scaling.md).
        self.host = socket.gethostname()
        self.holder = self._new_holder()
        self.loop: WorkerLoop[Claimed] = WorkerLoop(
            "activations", db, claim=self._claim, work=self._work, rescan=settings.vpn_scan_interval,
            concurrency=settings.vpn_worker_concurrency, prepare=self._release_leases)
        self.wake = self.loop.wake
        self._on_notified = on_notified or (lambda: None)
        self._on_done = on_done or (lambda: None)
        self._per_server: Counter[str] = Counter()
        self._pull_forward = False
        self.done_count = 0
        self.failed_attempts = 0

    # ---- signals from outside ------------------------------------------------------------------
    def nudge(self) -> None:
        self.loop.nudge()

    def panel_recovered(self, *_: object) -> None:
        """A panel answers again: rows backing off because of it may go now."""
        self._pull_forward = True
        self.loop.nudge()

    async def drain(self, grace: float) -> None:
        """Stop claiming; give attempts in flight `grace` seconds to finish, cancel the rest, and
        free their leases, so that a restarted gateway (or the other host's) takes them at once.
        Without the database the leases simply run out (or the next start here frees them)."""
        await self.loop.drain(grace)
        try:
            async with self.db.transaction(timeout=1.0) as conn:
                released = await activations_repo.release_leases(conn, [self.holder], only_holders=True)
        except DatabaseUnavailable:
            return
        if released:
            log.info("released the leases of attempts cut off by the drain", extra={"rows": released})

    @property
    def in_flight(self) -> int:
        return self.loop.in_flight

    # ---- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Until drained (see common/lifecycle/worker.py)."""
        await self.loop.run()

    def _new_holder(self) -> str:
        # host:pid:run — a process runs one activation worker, so a holder with this process's pid
        # and another run is an earlier run of it (restarted by its task supervisor, or a gateway a
        # test restarted in-process): its leases are dead like those of a dead process.
        return f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"

    async def _release_leases(self) -> None:
        self.holder = self._new_holder()
        mine = f"{self.host}:{os.getpid()}"
        async with self.db.transaction() as conn:
            holders = await activations_repo.lease_holders(conn, self.host)
            dead = [holder for holder in holders
                    if holder != self.holder and (holder.startswith(mine + ":") or holder == mine or not _alive(holder))]
            released = await activations_repo.release_leases(conn, dead)
        if released:
            log.info("released leases of a previous run", extra={"rows": released})

    async def _claim(self, free: int) -> list[Claimed]:
        if self._pull_forward:
            self._pull_forward = False
            async with self.db.transaction() as conn:
                await activations_repo.pull_forward(conn)
        async with self.db.transaction() as conn:
            jobs = await activations_repo.claim(conn, free, self.settings.vpn_lease_seconds,
                                                skip_servers=self._busy_servers(), holder=self.holder)
        for job in jobs:   # counted at once: the next claim must see these servers' share taken
            self._per_server[job.server or ""] += 1
        return jobs

    def _busy_servers(self) -> list[str]:
        busy = []
        for server in self.pool:
            if self._per_server[server.name] >= server.config.max_concurrency:
                busy.append(server.name)
        return busy

    # ---- one row -------------------------------------------------------------------------------
    async def _work(self, job: Claimed) -> None:
        try:
            await self._attempt(job)
        finally:
            self._per_server[job.server or ""] -= 1

    async def _attempt(self, job: Claimed) -> None:
        # An attempt must end well within its lease, or a second claim could overlap it.
        budget = self.settings.vpn_lease_seconds * 0.8
        try:
            async with asyncio.timeout(budget):
                outcome = await self.provisioner.run(job)
        except asyncio.CancelledError:
            raise
        except PanelError as exc:
            await self._failed(job, str(exc), exc.retry_after)
            return
        except TimeoutError:
            await self._failed(job, f"attempt took longer than {budget:.0f}s", None)
            return
        except DatabaseUnavailable as exc:
            await self._failed(job, f"database unavailable: {exc}", None)
            return
        except Exception as exc:  # noqa: BLE001 - a bug must cost one row a retry, not the worker
            log.exception("activation failed unexpectedly", extra={"activation_id": job.id, "action": job.action})
            await self._failed(job, f"internal error: {type(exc).__name__}", None)
            return
        try:
            await self._record(job, outcome)
        except DatabaseUnavailable:
            # Not recorded: the lease runs out and the row is done again; the panel already
            # matches, so that attempt only records.
            log.warning("could not record a finished activation", extra={"activation_id": job.id})

    async def _record(self, job: Claimed, outcome: Outcome) -> None:
        notified = False
        async with self.db.transaction() as conn:
            if outcome.active is not None:
                server, panel, spec = outcome.active
                await accounts_repo.save_active(conn, job.user_id, panel_id=panel.panel_id,
                                                access_key=panel.access_key, expires_at=spec.expires_at,
                                                traffic_limit_bytes=spec.traffic_limit_bytes)
            elif outcome.revoked:
                await accounts_repo.save_revoked(conn, job.user_id, panel_id=outcome.keep_panel_id)
            finished = await activations_repo.finish(conn, job.id)
            if finished and outcome.notice is not None:
                params = dict(outcome.params)
                if isinstance(job.payload.get("edit"), dict):
                    params["edit"] = job.payload["edit"]
                await enqueue_notification(conn, job.user_id, outcome.notice, params, key=f"activation:{job.id}")
                notified = True
        self.done_count += 1
        log.info("activation done", extra={"activation_id": job.id, "action": job.action, "user_id": job.user_id,
                                           "attempts": job.attempts, "note": outcome.note or None})
        if notified:
            self._on_notified()
        self._on_done()

    async def _failed(self, job: Claimed, error: str, retry_after: float | None) -> None:
        self.failed_attempts += 1
        delay = self.backoff(job.attempts)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.vpn_retry_max))
        log.warning("activation attempt failed", extra={"activation_id": job.id, "action": job.action,
                                                        "user_id": job.user_id, "attempt": job.attempts,
                                                        "error": error, "retry_in": round(delay, 2)})
        alert = job.attempts >= self.settings.vpn_max_attempts and not job.alerted
        notified = False
        try:
            async with self.db.transaction() as conn:
                await activations_repo.retry_later(conn, job.id, delay, error)
                if alert and await activations_repo.mark_alerted(conn, job.id):
                    await enqueue_admin_alert(conn, "activation_delayed",
                                              f"activation {job.id} ({job.action}) of user {job.user_id} "
                                              f"failed {job.attempts} times",
                                              {"activation_id": job.id, "user_id": job.user_id,
                                               "action": job.action, "error": error})
                    if Activation(job.action) in USER_FACING:
                        await enqueue_notification(conn, job.user_id, Notice.ACTIVATION_DELAYED, {},
                                                   key=f"activation:{job.id}:delayed")
                    notified = True
        except DatabaseUnavailable:
            return   # the lease runs out and the row is tried again
        if notified:
            self._on_notified()

    def backoff(self, attempts: int) -> float:
        base = self.settings.vpn_retry_base * 2 ** max(0, attempts - 1)
        return min(base, self.settings.vpn_retry_max) * (0.8 + 0.4 * random.random())


def _alive(holder: str) -> bool:
    """Whether the gateway process of `holder` ("host:pid[:run]", of this host) still runs."""
    parts = holder.split(":")
    pid = parts[1] if len(parts) > 1 else ""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
