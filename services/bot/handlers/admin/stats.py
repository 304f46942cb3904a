"""Statistics: users, subscriptions, trials, revenue, conversion; and the 30-day chart, drawn in
a worker thread so the event loop never waits on pixels."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import asyncpg
from aiogram import Bot, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery

from common.config import Settings
from common.db.database import Database
from services.bot.callbacks import AdminCb, AdminScreen
from services.bot.charts import daily as chart
from services.bot.formatting import date, money
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories import admin_stats
from services.bot.repositories.admin_stats import Daily, Overview
from services.bot.telegram.safe_edit import show

log = logging.getLogger(__name__)
REVENUE_COLOR = (46, 125, 210)
STARS_COLOR = (240, 170, 30)
USERS_COLOR = (60, 170, 100)


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


async def chart_photo(query: CallbackQuery, bot: Bot, t: Translator, db: Database, settings: Settings,
                      answer: Answer) -> None:
    await answer.now()
    try:
        async with db.acquire() as conn:
            data = await admin_stats.daily(conn)
    except asyncpg.QueryCanceledError:
        await bot.send_message(query.from_user.id, t("admin.stats_slow"))
        return
    currency = settings.cryptopay.shop_currency
    png = await asyncio.to_thread(chart.draw, _series(data, currency))
    caption = t("admin.chart_caption", first=data.days[0].isoformat(), last=data.days[-1].isoformat(),
                fiat=currency, total=money(sum(data.revenue.get(currency, [])), currency),
                stars=money(sum(data.revenue.get("XTR", [])), "XTR"), users=sum(data.new_users))
    await bot.send_photo(query.from_user.id, BufferedInputFile(png, filename="stats-30-days.png"), caption=caption)


def _series(data: Daily, currency: str) -> list[chart.Series]:
    zeros = [0] * len(data.days)
    return [chart.Series(data.revenue.get(currency, zeros), REVENUE_COLOR),
            chart.Series(data.revenue.get("XTR", zeros), STARS_COLOR),
            chart.Series(data.new_users, USERS_COLOR)]
