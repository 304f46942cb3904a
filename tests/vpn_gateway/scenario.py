"""One run through every panel operation the gateway uses, shared by the per-panel contract
tests (test_contract_<panel>.py), which record what goes on the wire and check it."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import pytest

from common.contract.outbox import Activation
from common.db.database import Database
from common.shop.outbox import enqueue_activation
from services.vpn_gateway.panels.base import AccessSpec, AccountExists
from tests.vpn_gateway.support import GB, InProcessGateway, buy


async def _nothing() -> None:
    return None


async def every_operation(db: Database, gw: InProcessGateway, server: str, first: int, *,
                          add_traffic: Callable[[int], Awaitable[None]],
                          before_reissue: Callable[[], Awaitable[None]] = _nothing) -> None:
    """Users `first` (trial, renewed, used, reissued, expired, renewed again) and `first + 1`
    (revoked); then `atcs-<first + 2>` made twice on the backend (the second is refused), and a
    health probe. `add_traffic(bytes)` makes user `first` use that much on the panel."""
    await buy(db, first, 3, is_trial=True, traffic_gb=10)
    await buy(db, first + 1, 30, traffic_gb=0)
    await gw.settle()
    await buy(db, first, 30, traffic_gb=0)          # renewal: expiry and limit change
    await gw.settle()
    await add_traffic(3 * GB)
    assert (await gw.usage.get(first)).used_bytes == 3 * GB
    await before_reissue()
    async with db.transaction() as conn:
        await enqueue_activation(conn, first, Activation.REISSUE, f"c:reissue:{first}")
        await conn.execute("UPDATE subscriptions SET status = 'revoked', updated_at = now() WHERE user_id = $1",
                           first + 1)
        await enqueue_activation(conn, first + 1, Activation.REVOKE, f"c:revoke:{first}")
    await gw.settle()
    async with db.transaction() as conn:       # expiry switches the account off; renewal on again
        await conn.execute("UPDATE subscriptions SET expires_at = now() - interval '1 day' WHERE user_id = $1", first)
        await enqueue_activation(conn, first, Activation.EXPIRE, f"c:expire:{first}")
    await gw.settle()
    await buy(db, first, 30)
    await gw.settle()
    backend = gw.pool.get(server).backend
    spec = AccessSpec(datetime.now(timezone.utc) + timedelta(days=1), 0)
    await backend.create(f"atcs-{first + 2}", spec)
    with pytest.raises(AccountExists):
        await backend.create(f"atcs-{first + 2}", spec)
    assert (await backend.health()).ok
