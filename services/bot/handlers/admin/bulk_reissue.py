"""Bulk reissue: every active user's key rotated by vpn_gateway as a durable job (BULK_REISSUE),
after a confirmation; the progress screen is refreshed on demand (BULK_REISSUE_STATE) and the
job can be cancelled (BULK_REISSUE_CANCEL). vpn_gateway audits the start, the bot the cancel."""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from common.contract.vpn_gateway import BulkReissue, JobState
from common.db.database import Database
from common.ipc import RpcError
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminBulkAction, AdminBulkCb, AdminCb, AdminScreen
from services.bot.callbacks import new_nonce
from services.bot.handlers.admin.shared import rpc_problem
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories import admin_audit, admin_users
from services.bot.telegram.safe_edit import show

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="admin.bulk_reissue")
    r.callback_query.register(confirm_screen, AdminCb.filter(F.to == AdminScreen.BULK))
    r.callback_query.register(start, AdminBulkCb.filter(F.action == AdminBulkAction.START))
    r.callback_query.register(refresh, AdminBulkCb.filter(F.action == AdminBulkAction.REFRESH))
    r.callback_query.register(cancel, AdminBulkCb.filter(F.action == AdminBulkAction.CANCEL))
    return r


async def confirm_screen(query: CallbackQuery, bot: Bot, t: Translator, db: Database) -> None:
    async with db.acquire() as conn:
        keys = await admin_users.active_keys(conn)
    await show(bot, query.from_user.id, query.message, t("admin.bulk_confirm", count=keys),
               kb.bulk_confirm(t, new_nonce()))


def render(t: Translator, job: JobState) -> str:
    labels = {"running": t("admin.jstate_running"), "done": t("admin.jstate_done"),
              "cancelled": t("admin.jstate_cancelled")}
    left = max(0, job.total - job.done - job.failed)
    return t("admin.bulk_progress", id=job.job_id, state=labels.get(job.state, job.state), done=job.done,
             total=job.total, failed=job.failed, left=left)


async def _show_job(bot: Bot, query: CallbackQuery, t: Translator, job: JobState) -> None:
    await show(bot, query.from_user.id, query.message, render(t, job),
               kb.bulk_progress(t, job.job_id, job.state == "running"))


async def start(query: CallbackQuery, callback_data: AdminBulkCb, bot: Bot, t: Translator, admin_peers: AdminPeers,
                answer: Answer) -> None:
    if not callback_data.nonce:
        answer.set(t("stale"))
        return
    await answer.now()
    request = BulkReissue(admin_id=query.from_user.id, request_id=f"bulk:{callback_data.nonce}")
    try:
        job = await admin_peers.bulk_reissue(request)
        state = await admin_peers.bulk_state(job.job_id)
    except RpcError as exc:
        log.warning("bulk reissue not started", extra={"code": str(exc.code)})
        await show(bot, query.from_user.id, query.message, rpc_problem(t, "vpn_gateway", exc),
                   kb.bulk_confirm(t, callback_data.nonce))
        return
    await _show_job(bot, query, t, state)


async def refresh(query: CallbackQuery, callback_data: AdminBulkCb, bot: Bot, t: Translator,
                  admin_peers: AdminPeers, answer: Answer) -> None:
    try:
        state = await admin_peers.bulk_state(callback_data.job)
    except RpcError as exc:
        answer.set(t("stale") if exc.code == "not_found" else rpc_problem(t, "vpn_gateway", exc), alert=True)
        return
    await _show_job(bot, query, t, state)


async def cancel(query: CallbackQuery, callback_data: AdminBulkCb, bot: Bot, t: Translator, db: Database,
                 admin_peers: AdminPeers, answer: Answer) -> None:
    try:
        state = await admin_peers.bulk_cancel(callback_data.job)
    except RpcError as exc:
        answer.set(t("stale") if exc.code == "not_found" else rpc_problem(t, "vpn_gateway", exc), alert=True)
        return
    async with db.transaction() as conn:
        await admin_audit.record(conn, query.from_user.id, "bulk_reissue_cancel", f"job:{callback_data.job}",
                                 {"done": state.done, "total": state.total},
                                 request_id=f"bulk_cancel:{callback_data.job}")
    answer.set(t("admin.bulk_cancelled", id=callback_data.job))
    await _show_job(bot, query, t, state)
