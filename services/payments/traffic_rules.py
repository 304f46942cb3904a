"""Which traffic package a user may buy now (issue 12.3): judged when an invoice is made
(invoices.py) and when the balance pays one (traffic_packages.py)."""
from __future__ import annotations

import asyncpg

from common.contract.base import RpcErrorCode
from common.contract.payments import TRAFFIC_REFUSED, TrafficRefusal
from common.contract.vpn_gateway import LASTING_TRAFFIC_LIMIT
from common.ipc.errors import RpcError
from common.settings.traffic import TrafficPackage, TrafficSettings
from common.shop import traffic


def refused(refusal: TrafficRefusal) -> RpcError:
    return RpcError(RpcErrorCode.CONFLICT, TRAFFIC_REFUSED + refusal)


async def sellable(conn: asyncpg.Connection, settings: TrafficSettings, user_id: int, package_id: str) -> TrafficPackage:
    """The package, if it is on sale and this user may buy it now (an active subscription with a
    traffic limit, on a panel whose limit lasts); else the refusal."""
    package = settings.package(package_id)
    if package is None:
        raise refused("unknown_package")
    if not await traffic.can_buy(conn, user_id, LASTING_TRAFFIC_LIMIT):
        raise refused("not_eligible")
    return package
