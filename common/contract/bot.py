"""RPC methods served by bot."""
from __future__ import annotations

from common.contract.base import Body, method


class NudgeNotifications(Body):
    pass


class NotificationsPending(Body):
    pending: int


# "Look now": a notification or admin alert row was committed; the bot's sender drains it.
NUDGE_NOTIFICATIONS = method("nudge_notifications", "bot", NudgeNotifications, NotificationsPending, retry_safe=True)
