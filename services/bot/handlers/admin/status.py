"""Service status: each service's STATUS over ZeroMQ (all at once, short deadline) and
supervisord's process states over its XML-RPC socket (in a worker thread, bounded)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from services.bot.settings import Settings
from common.contract.core import StatusResult
from common.ipc import RpcError
from common.texts import duration
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminCb, AdminScreen
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import transient
from services.bot.supervisor_state import ProcessInfo, SupervisorUnreachable, supervisor_processes
from services.bot.telegram.safe_edit import show

STATUS_DEADLINE = 1.0       # per service; they are asked at once, so the screen waits this long at most
SUPERVISOR_DEADLINE = 1.5
_GOOD = {"RUNNING"}
_PASSING = {"STARTING", "STOPPING", "EXITED", "STOPPED"}   # expected at times (migrate exits 0)


def router() -> Router:
    r = Router(name="admin.status")
    r.callback_query.register(status_screen, AdminCb.filter(F.to == AdminScreen.STATUS))
    return r


async def status_screen(query: CallbackQuery, bot: Bot, t: Translator, settings: Settings, admin_peers: AdminPeers,
                        answer: Answer) -> None:
    await answer.now()
    socket = settings.bot.supervisor_socket
    services, processes = await asyncio.gather(
        admin_peers.statuses(min(STATUS_DEADLINE, settings.bot.bot_admin_deadline)),
        _processes(socket))
    lines = [t("admin.status_title")]
    lines += [_service_line(t, name, result) for name, result in services.items()]
    lines += ["", t("admin.status_supervisor")]
    if isinstance(processes, SupervisorUnreachable):
        lines.append(t("admin.status_supervisor_down", path=str(socket), error=str(processes)))
    else:
        lines += [_process_line(t, p) for p in processes] or [t("admin.status_supervisor_empty")]
    await show(bot, query.from_user.id, query.message, "\n".join(lines), kb.refreshable(t, AdminScreen.STATUS))


async def _processes(socket: Path) -> list[ProcessInfo] | SupervisorUnreachable:
    try:
        return await supervisor_processes(socket, SUPERVISOR_DEADLINE)
    except SupervisorUnreachable as exc:
        return exc


def _service_line(t: Translator, name: str, result: StatusResult | RpcError) -> str:
    if isinstance(result, RpcError):
        if transient(result):
            return t("admin.status_service_down", service=name, error=str(result.code))
        return t("admin.status_service_error", service=name, error=f"{result.code}: {result.message}"[:200])
    pool = result.pool or {}
    queues = ", ".join(f"{k} {v}" for k, v in sorted(result.queues.items())) or "—"
    common = {"service": name, "uptime": duration(result.uptime, t.locale),
              "pool": f"{pool.get('size', 0)}/{pool.get('max', 0)}", "queues": queues}
    if result.ready:
        return t("admin.status_service_ok", **common)
    reasons = result.details.get("not_ready") if isinstance(result.details, dict) else None
    why = "; ".join(f"{k}: {v}" for k, v in reasons.items()) if isinstance(reasons, dict) and reasons \
        else (result.last_error or "—")
    return t("admin.status_service_degraded", reason=why[:200], **common)


def _process_line(t: Translator, p: ProcessInfo) -> str:
    if p.state in _GOOD:
        return t("admin.status_process_ok", name=p.name, state=p.state, info=p.description or "—")
    if p.state in _PASSING:
        return t("admin.status_process_idle", name=p.name, state=p.state, info=p.description or "—")
    return t("admin.status_process_bad", name=p.name, state=p.state, info=p.description or "—")
