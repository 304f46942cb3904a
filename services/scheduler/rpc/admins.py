"""Who may start and stop admin jobs: the bot filters admins, and the scheduler checks again —
a job that messages every user must not start on the word of any process that can reach it."""
from __future__ import annotations

from services.scheduler.settings import Settings
from common.contract.base import RpcErrorCode
from common.ipc import RpcError


def require_admin(settings: Settings, admin_id: int) -> None:
    if admin_id not in settings.telegram.admin_ids:
        raise RpcError(RpcErrorCode.FORBIDDEN, f"{admin_id} is not in ATCS_ADMIN_IDS")


def require_telegram(settings: Settings) -> None:
    token = settings.telegram.bot_token
    if token is None or not token.get_secret_value():
        raise RpcError(RpcErrorCode.UNAVAILABLE, "ATCS_BOT_TOKEN is not set: the scheduler cannot send")
