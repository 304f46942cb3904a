"""The scheduler's leader lock: of all schedulers on one database, on any host, exactly one runs
the timed jobs and the admins' long jobs; the others are standbys serving RPC (which only writes
rows) and take over within ATCS_LEADER_RETRY_INTERVAL of the leader's lock being freed."""
from __future__ import annotations

from collections.abc import Callable

from common.db.leader_lock import LeaderLock as _LeaderLock
from services.scheduler.repositories.leader import LEADER_LOCK, NOTIFY_CHANNEL


class LeaderLock(_LeaderLock):
    def __init__(self, url: str, *, retry_interval: float, check_interval: float, connect_timeout: float,
                 on_notify: Callable[[str], None] | None = None,
                 on_change: Callable[[str], None] | None = None) -> None:
        super().__init__(url, key=LEADER_LOCK, role="scheduler", retry_interval=retry_interval,
                         check_interval=check_interval, connect_timeout=connect_timeout,
                         notify_channel=NOTIFY_CHANNEL, on_notify=on_notify, on_change=on_change)
