"""Statistics: users, subscriptions, trials, revenue, conversion; and the 30-day chart.

The chart is drawn by the scheduler (RENDER_CHART), so the bot never loads a plotting library
and its memory stays where it is. Past ATCS_BOT_ADMIN_DEADLINE the admin sees "working on it" and
a follow-up delivers the photo (or says that the scheduler did not answer).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import asyncpg
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, CallbackQuery

from services.bot.settings import Settings
from common.contract.scheduler import Chart, ChartQuery
from common.db.database import Database
from common.ipc import RpcError
from common.texts import money
from services.bot.peers.admin import AdminPeers
from services.bot.callbacks import AdminCb, AdminScreen
from services.bot.followups import Followups
from services.bot.formatting import date
from services.bot.handlers.admin.shared import rpc_problem, scheduler_locale
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import retry_until, transient
from services.bot.repositories import admin_stats
from services.bot.repositories.admin_stats import Overview
from services.bot.telegram.safe_edit import safe_edit, show

log = logging.getLogger(__name__)
CHART_DAYS = 30


def router() -> Router:
    r = Router(name="admin.stats")
    r.callback_query.register(stats_screen, AdminCb.filter(F.to == AdminScreen.STATS))
    r.callback_query.register(chart_photo, AdminCb.filter(F.to == AdminScreen.CHART))
    return r


async def stats_screen(query: CallbackQuery, bot: Bot, t: Translator, db: Database, answer: Answer) -> None:
    await answer.now()  # a few aggregate queries: up to their statement timeout
    try:
        async with db.acquire() as conn:
            overview = await admin_stats.overview(conn)
    except asyncpg.QueryCanceledError:
        await show(bot, query.from_user.id, query.message, t("admin.stats_slow"), kb.stats(t))
        return
    await show(bot, query.from_user.id, query.message, render(t, overview), kb.stats(t))


def render(t: Translator, o: Overview) -> str:
    conversion = f"{o.conversion * 100:.1f}%" if o.conversion is not None else "—"
    lines = [
        t("admin.stats_title"),
        t("admin.stats_users", users=o.users, today=o.users_today, month=o.users_month),
        t("admin.stats_active", active=o.active, trials=o.active_trials),
        t("admin.stats_conversion", taken=o.trials_taken, paid=o.trials_converted, rate=conversion),
        "",
        t("admin.stats_revenue"),
    ]
    for r in o.revenue:
        lines.append(t("admin.stats_revenue_line", today=money(r.today, r.currency), week=money(r.week, r.currency),
                       month=money(r.month, r.currency), count=r.payments))
    if not o.revenue:
        lines.append(t("admin.stats_revenue_none"))
    lines += ["", t("admin.stats_as_of", date=date(datetime.now(timezone.utc)))]
    return "\n".join(lines)


async def chart_photo(query: CallbackQuery, bot: Bot, t: Translator, settings: Settings, admin_peers: AdminPeers,
                      followups: Followups, answer: Answer) -> None:
    chat_id = query.from_user.id
    key = f"chart:{chat_id}"
    if followups.running(key):
        answer.set(t("admin.chart_drawing"))   # a second tap while the first is on its way
        return
    await answer.now(t("admin.chart_drawing"))
    request = ChartQuery(admin_id=chat_id, days=CHART_DAYS, locale=scheduler_locale(t))
    try:
        chart = await admin_peers.chart(request)
    except RpcError as exc:
        if not transient(exc):
            log.warning("chart refused", extra={"code": str(exc.code)})
            await bot.send_message(chat_id, rpc_problem(t, "scheduler", exc))
            return
        working = (await bot.send_message(chat_id, t("admin.chart_working"))).message_id
        if not followups.start(key, _chart_later(bot, t, settings, admin_peers, request, working)):
            await safe_edit(bot, chat_id, working, t("admin.service_unavailable", service="scheduler"))
        return
    await _send(bot, t, chat_id, chart)


async def _chart_later(bot: Bot, t: Translator, settings: Settings, admin_peers: AdminPeers, request: ChartQuery,
                       working: int) -> None:
    chat_id = request.admin_id
    try:
        # Each attempt finds the render the scheduler already started (it is shared and cached).
        chart = await retry_until(lambda timeout: admin_peers.chart(request, timeout),
                                  settings.bot.bot_followup_timeout, attempt=max(settings.bot.bot_admin_deadline, 2.0))
    except RpcError as exc:
        log.warning("chart not received", extra={"code": str(exc.code)})
        await safe_edit(bot, chat_id, working, rpc_problem(t, "scheduler", exc))
        return
    await _send(bot, t, chat_id, chart)
    try:
        await bot.delete_message(chat_id, working)
    except TelegramBadRequest:
        pass   # already gone (deleted by the admin): the photo below is what matters


async def _send(bot: Bot, t: Translator, chat_id: int, chart: Chart) -> None:
    revenue = ", ".join(money(amount, currency) for currency, amount in
                        sorted(chart.revenue.items(), key=lambda item: (item[0] == "XTR", item[0])))
    caption = t("admin.chart_caption", first=chart.first_day.isoformat(), last=chart.last_day.isoformat(),
                users=chart.new_users, trials=chart.trials, payments=chart.payments,
                revenue=revenue or t("admin.chart_no_revenue"))
    name = f"stats-{chart.first_day.isoformat()}-{chart.last_day.isoformat()}.png"
    await bot.send_photo(chat_id, BufferedInputFile(chart.png, filename=name), caption=caption)
