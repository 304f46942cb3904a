"""RPC methods served by vpn_gateway. Writes go through activation rows (outbox); these methods
enqueue such a row (keyed by request_id) and nudge the worker, or read."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from common.contract.base import Body, method

# Panels (vpn_accounts.backend) whose traffic limit is held against a counter they never reset,
# so that bytes bought in a traffic package stay bought: Remnawave (trafficLimitBytes, NO_RESET),
# Marzban (data_limit, no_reset), 3x-ui (totalGB, reset 0). Outline is left out on purpose: its
# per-key data limit is measured over a rolling 30 days (the server's enforcement, not in its
# api.yml), so a package there would be a lasting raise of a monthly cap, not bytes bought.
# The bot offers packages, and payments sells them, only on these; each backend's
# Capabilities.lasting_traffic_limit says the same (tests/vpn_gateway checks they agree).
LASTING_TRAFFIC_LIMIT = frozenset({"remnawave", "marzban", "3x-ui"})


class Nudge(Body):
    pass


class Nudged(Body):
    pending: int


class UserAction(Body):
    user_id: int
    request_id: str       # idempotency key of the activation row
    days: int | None = None


class Enqueued(Body):
    activation_id: int
    state: str


class UsageQuery(Body):
    user_id: int


class Usage(Body):
    user_id: int
    used_bytes: int | None
    limit_bytes: int | None
    as_of: datetime | None
    stale: bool               # true when served from the cache because the panel was slow


class BulkReissue(Body):
    admin_id: int
    request_id: str
    scope: Literal["all_active"] = "all_active"


class JobRef(Body):
    job_id: int


class JobState(Body):
    job_id: int
    state: str
    total: int
    done: int
    failed: int


NUDGE_ACTIVATIONS = method("nudge_activations", "vpn_gateway", Nudge, Nudged, retry_safe=True)
ISSUE = method("issue", "vpn_gateway", UserAction, Enqueued, retry_safe=True)
EXTEND = method("extend", "vpn_gateway", UserAction, Enqueued, retry_safe=True)
REVOKE = method("revoke", "vpn_gateway", UserAction, Enqueued, retry_safe=True)
REISSUE = method("reissue", "vpn_gateway", UserAction, Enqueued, retry_safe=True)
USAGE = method("usage", "vpn_gateway", UsageQuery, Usage, retry_safe=True)
BULK_REISSUE = method("bulk_reissue", "vpn_gateway", BulkReissue, JobRef, retry_safe=True)
BULK_REISSUE_STATE = method("bulk_reissue_state", "vpn_gateway", JobRef, JobState, retry_safe=True)
BULK_REISSUE_CANCEL = method("bulk_reissue_cancel", "vpn_gateway", JobRef, JobState, retry_safe=True)


# ---- devices (issue 13.3): read from the user's panel with a short bound, never queued ----------
class DevicesQuery(Body):
    user_id: int


class DeviceInfo(Body):
    device_id: str            # the panel's id of the device (Remnawave: its HWID)
    platform: str | None = None
    model: str | None = None
    os_version: str | None = None
    last_seen: datetime | None = None


class Devices(Body):
    user_id: int
    limit: int                # devices at once under the user's plan, 0 = no limit
    # "listed": the panel lists devices and one can be removed (Remnawave); "limit_only": it limits
    # them but cannot list them (3x-ui counts source IPs); "none": it has no device limit (Outline,
    # Marzban); "no_account": the user has no account on a panel (yet).
    support: Literal["listed", "limit_only", "none", "no_account"]
    devices: list[DeviceInfo] = []


class RemoveDevice(Body):
    user_id: int
    device_id: str = Field(min_length=1, max_length=512)


class DeviceRemoved(Body):
    removed: bool             # false: the panel did not know it (removed already)
    devices: Devices


DEVICES = method("devices", "vpn_gateway", DevicesQuery, Devices, retry_safe=True)
# Removing a device that is gone already changes nothing: safe to retry.
REMOVE_DEVICE = method("remove_device", "vpn_gateway", RemoveDevice, DeviceRemoved, retry_safe=True)
