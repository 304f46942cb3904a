"""Bulk reissue: a durable job with bounded concurrency, progress, cancel, and resume."""
from __future__ import annotations

from common.contract.vpn_gateway import BulkReissue, JobRef
from sandbox.panels.remnawave import RemnawaveStandIn
from tests.support.wait import wait_for
from tests.vpn_gateway.support import InProcessGateway, buy, fetch, remnawave_server, value, vpn_settings

USERS = range(5000, 5012)


async def keys(db) -> dict[int, str]:
    return {r["user_id"]: r["access_key"] for r in await fetch(db, "SELECT user_id, access_key FROM vpn_accounts")}


async def with_keys(db, gateways, remnawave: RemnawaveStandIn, **settings) -> InProcessGateway:
    gw = InProcessGateway(db, vpn_settings([remnawave_server(remnawave)], **settings)).start()
    gateways.append(gw)
    for user_id in USERS:
        await buy(db, user_id, 30)
    await gw.settle()
    return gw


async def test_every_active_key_is_rotated_a_few_at_a_time(db, gateways, remnawave) -> None:
    gw = await with_keys(db, gateways, remnawave, vpn_bulk_concurrency=3)
    before = await keys(db)
    remnawave.add_fault(route="*", kind="latency", latency=0.05)
    peak = 0

    async def progress():
        nonlocal peak
        outstanding = await value(db, "SELECT count(*) FROM vpn_bulk_items WHERE state = 'queued'")
        peak = max(peak, outstanding)
        state = await gw.rpc.bulk_state(JobRef(job_id=job.job_id))
        return state.state == "done" and state

    job = await gw.rpc.bulk_reissue(BulkReissue(admin_id=1, request_id="bulk-1"))
    again = await gw.rpc.bulk_reissue(BulkReissue(admin_id=1, request_id="bulk-1"))
    assert again.job_id == job.job_id
    state = await wait_for(progress, timeout=30, interval=0.02, message="bulk job done")
    assert (state.total, state.done, state.failed) == (12, 12, 0)
    assert 1 <= peak <= 3
    after = await keys(db)
    assert all(after[u] != before[u] for u in USERS)
    assert remnawave.stats()["accounts"] == 12
    assert await value(db, "SELECT count(*) FROM notifications WHERE kind = 'key_reissued'") == 12
    assert await value(db, "SELECT count(*) FROM admin_alerts WHERE kind = 'bulk_reissue_done'") == 1
    assert await value(db, "SELECT count(*) FROM admin_audit WHERE action = 'bulk_reissue'") == 1


async def test_cancel_stops_feeding_the_queue(db, gateways, remnawave) -> None:
    gw = await with_keys(db, gateways, remnawave, vpn_bulk_concurrency=2)
    remnawave.add_fault(route="*", kind="latency", latency=0.3)
    job = await gw.rpc.bulk_reissue(BulkReissue(admin_id=1, request_id="bulk-2"))
    await wait_for(lambda: value(db, "SELECT count(*) FROM vpn_bulk_items WHERE state = 'done'"), timeout=10)
    state = await gw.rpc.bulk_cancel(JobRef(job_id=job.job_id))
    assert state.state == "cancelled"
    await gw.settle()
    await wait_for(lambda: value(db, "SELECT count(*) = 0 FROM vpn_bulk_items WHERE state = 'queued'"), timeout=10)
    state = await gw.rpc.bulk_state(JobRef(job_id=job.job_id))
    assert state.state == "cancelled" and 1 <= state.done < 12
    assert await value(db, "SELECT count(*) FROM notifications WHERE kind = 'key_reissued'") == state.done


async def test_a_restarted_gateway_resumes_the_job(db, gateways, remnawave) -> None:
    gw = await with_keys(db, gateways, remnawave, vpn_bulk_concurrency=2)
    before = await keys(db)
    remnawave.add_fault(route="*", kind="latency", latency=0.2)
    job = await gw.rpc.bulk_reissue(BulkReissue(admin_id=1, request_id="bulk-3"))
    await wait_for(lambda: value(db, "SELECT count(*) FROM vpn_bulk_items WHERE state = 'done'"), timeout=10)
    await gw.stop()                                   # mid-job
    gateways.remove(gw)
    assert (await gw.rpc.bulk_state(JobRef(job_id=job.job_id))).state == "running"
    remnawave.clear_faults()
    fresh = InProcessGateway(db, vpn_settings([remnawave_server(remnawave)], vpn_bulk_concurrency=2)).start()
    gateways.append(fresh)
    state = await wait_for(lambda: _done(fresh, job.job_id), timeout=30, message="job done after restart")
    assert (state.total, state.done) == (12, 12)
    after = await keys(db)
    assert all(after[u] != before[u] for u in USERS)
    # One reissue per user, however the restart fell.
    assert await value(db, "SELECT count(*) FROM activations WHERE action = 'reissue'") == 12
    assert await value(db, "SELECT count(*) FROM notifications WHERE kind = 'key_reissued'") == 12
    assert remnawave.stats()["accounts"] == 12


async def _done(gw: InProcessGateway, job_id: int):
    state = await gw.rpc.bulk_state(JobRef(job_id=job_id))
    return state.state == "done" and state
