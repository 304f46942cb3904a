"""CSV export: the scheduler streams the rows to a file and sends the document itself
(START_EXPORT); the bot only asks, and hands it this screen as the progress message."""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from common.contract.scheduler import MessageRef, StartExport
from common.ipc import RpcError
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminCb, AdminExportCb, AdminScreen
from services.bot.callbacks import new_nonce
from services.bot.handlers.admin.shared import rpc_problem, scheduler_locale
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.telegram.safe_edit import safe_edit, show

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="admin.export")
    r.callback_query.register(export_screen, AdminCb.filter(F.to == AdminScreen.EXPORT))
    r.callback_query.register(start_export, AdminExportCb.filter())
    return r


async def export_screen(query: CallbackQuery, bot: Bot, t: Translator) -> None:
    await show(bot, query.from_user.id, query.message, t("admin.export_prompt"), kb.export(t, new_nonce()))


def _kind_label(t: Translator, kind: str) -> str:
    return {"users": t("admin.export_users"), "subscriptions": t("admin.export_subscriptions"),
            "payments": t("admin.export_payments")}[kind]


async def start_export(query: CallbackQuery, callback_data: AdminExportCb, bot: Bot, t: Translator,
                       admin_peers: AdminPeers, answer: Answer) -> None:
    if callback_data.kind not in kb.EXPORT_KINDS:
        answer.set(t("stale"))
        return
    await answer.now()
    chat_id = query.from_user.id
    # Shown before the request: from here on the scheduler edits this message with its progress.
    shown = await show(bot, chat_id, query.message, t("admin.export_queued", kind=_kind_label(t, callback_data.kind)))
    request = StartExport(admin_id=query.from_user.id, request_id=f"ex:{callback_data.nonce}:{callback_data.kind}",
                          kind=callback_data.kind, progress=MessageRef(chat_id=chat_id, message_id=shown),
                          locale=scheduler_locale(t))  # type: ignore[arg-type]
    try:
        await admin_peers.start_export(request)
    except RpcError as exc:
        log.warning("export not started", extra={"code": str(exc.code)})
        await safe_edit(bot, chat_id, shown, rpc_problem(t, "scheduler", exc) + "\n\n" + t("admin.export_prompt"),
                        kb.export(t, new_nonce()))
