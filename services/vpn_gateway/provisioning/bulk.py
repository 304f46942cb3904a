"""Bulk reissue for admins: a durable job, fed into the activation queue a few users at a time.

The job and its target users are rows (bulk_repo); each step, in one transaction, marks items
whose reissue finished, then queues reissue activations for waiting users until
`vpn_bulk_concurrency` are outstanding. The activation worker does the panel work with all its
retries and idempotency (key `bulk:<job>:<user>`, so a step repeated after a crash queues
nothing twice). Cancel stops the feeding; a restarted gateway simply takes the next step.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from common.contract.outbox import Activation
from common.contract.vpn_gateway import JobState
from common.db.database import Database
from common.lifecycle.worker import WorkerLoop
from common.shop.outbox import enqueue_activation, enqueue_admin_alert
from services.vpn_gateway.repositories import activations as activations_repo
from services.vpn_gateway.repositories import bulk as bulk_repo

log = logging.getLogger(__name__)
MAX_JOBS_A_PASS = 100   # admins run a handful at most; a longer list is stepped in the next pass


class BulkReissuer:
    def __init__(self, db: Database, concurrency: int, *, interval: float = 1.0,
                 on_queued: Callable[[], None] | None = None, on_notified: Callable[[], None] | None = None) -> None:
        self.db = db
        self.concurrency = concurrency
        # A pass steps every open job in turn (one batch); the jobs are rows, so no lease is needed.
        self.loop: WorkerLoop[int] = WorkerLoop("bulk_reissue", db, claim=self._open_jobs, work=self.step,
                                                rescan=interval, batch=MAX_JOBS_A_PASS)
        self.wake = self.loop.wake
        self._on_queued = on_queued or (lambda: None)
        self._on_notified = on_notified or (lambda: None)

    async def create(self, admin_id: int, request_id: str, scope: str) -> int:
        async with self.db.transaction() as conn:
            job_id, made = await bulk_repo.create_job(conn, admin_id, request_id, scope)
        if made:
            log.info("bulk reissue job made", extra={"job_id": job_id, "admin_id": admin_id})
        self.loop.nudge()
        return job_id

    async def state(self, job_id: int) -> JobState | None:
        async with self.db.acquire() as conn:
            job = await bulk_repo.get_job(conn, job_id)
        if job is None:
            return None
        return JobState(job_id=job.id, state=job.state, total=job.total, done=job.done, failed=job.failed)

    async def cancel(self, job_id: int) -> JobState | None:
        async with self.db.transaction() as conn:
            if await bulk_repo.cancel(conn, job_id):
                log.info("bulk reissue job cancelled", extra={"job_id": job_id})
        return await self.state(job_id)

    @property
    def interval(self) -> float:
        return self.loop.rescan

    @interval.setter
    def interval(self, seconds: float) -> None:
        self.loop.rescan = seconds

    async def run(self) -> None:
        await self.loop.run()

    async def _open_jobs(self, limit: int) -> list[int]:
        async with self.db.acquire() as conn:
            return (await bulk_repo.open_jobs(conn))[:limit]

    async def step(self, job_id: int) -> None:
        queued = 0
        finished = None
        async with self.db.transaction() as conn:
            state = await bulk_repo.lock_job(conn, job_id)
            if state is None:
                return
            await bulk_repo.sync_items(conn, job_id)
            if state == "running":
                free = self.concurrency - await bulk_repo.outstanding(conn, job_id)
                for user_id in await bulk_repo.next_waiting(conn, job_id, max(0, free)):
                    key = f"bulk:{job_id}:{user_id}"
                    activation_id = await enqueue_activation(
                        conn, user_id, Activation.REISSUE, key, {"reason": "bulk_reissue", "bulk_job": job_id})
                    if activation_id is None:
                        existing = await activations_repo.by_key(conn, key)
                        assert existing is not None
                        activation_id = existing.id
                    await bulk_repo.mark_queued(conn, job_id, user_id, activation_id)
                    queued += 1
                if await bulk_repo.finish_if_complete(conn, job_id):
                    finished = await bulk_repo.get_job(conn, job_id)
                    if finished is not None:
                        await enqueue_admin_alert(conn, "bulk_reissue_done", f"bulk reissue job {job_id} finished",
                                                  {"job_id": job_id, "admin_id": finished.admin_id,
                                                   "total": finished.total, "done": finished.done,
                                                   "failed": finished.failed})
        if queued:
            self._on_queued()
        if finished is not None:
            log.info("bulk reissue job done", extra={"job_id": job_id, "total": finished.total,
                                                     "done": finished.done, "failed": finished.failed})
            self._on_notified()

    def activation_finished(self) -> None:
        """The worker finished a row: a bulk item may have completed, so step soon."""
        self.loop.nudge()
