"""The audit log: the last admin actions, whoever carried them out (admin_audit)."""
from __future__ import annotations

import orjson
from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from common.db.database import Database
from services.bot.callbacks import AdminCb, AdminScreen
from services.bot.formatting import date
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.repositories import admin_audit
from services.bot.repositories.admin_audit import AuditRow
from services.bot.telegram.safe_edit import show

SHOWN = 20


def router() -> Router:
    r = Router(name="admin.audit")
    r.callback_query.register(audit_screen, AdminCb.filter(F.to == AdminScreen.AUDIT))
    return r


async def audit_screen(query: CallbackQuery, bot: Bot, t: Translator, db: Database) -> None:
    async with db.acquire() as conn:
        rows = await admin_audit.recent(conn, SHOWN)
    lines = [t("admin.audit_title", count=SHOWN)]
    lines += [_line(t, row) for row in rows] or [t("admin.audit_empty")]
    await show(bot, query.from_user.id, query.message, "\n".join(lines), kb.refreshable(t, AdminScreen.AUDIT))


def _line(t: Translator, row: AuditRow) -> str:
    detail = {k: v for k, v in row.detail.items() if k != "request_id"}
    shown = orjson.dumps(detail, default=str).decode()[:80] if detail else ""
    return t("admin.audit_line", date=date(row.created_at), admin=row.admin_id, action=row.action,
             target=row.target or "—", detail=shown)
