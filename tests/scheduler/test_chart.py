"""The admin chart drawn by the scheduler (issue 11, item 6): the numbers per UTC day, a picture
with dated axis, labelled series and the period's totals, rendered in a worker thread, shared by
concurrent requests, kept for a minute per (days, locale), and refused to anyone but an admin."""
from __future__ import annotations

import asyncio
import io
import re
import threading
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest
from PIL import Image

from common.contract.base import RpcErrorCode
from common.contract.scheduler import ChartQuery
from common.db.database import Database
from common.ipc import RpcError
from services.scheduler.charts import renderer as renderer_module
from services.scheduler.charts.renderer import ChartRenderer
from services.scheduler.repositories import daily_stats
from services.scheduler.repositories.daily_stats import DailyStats
from services.scheduler.rpc.charts import ChartHandlers
from tests.scheduler.process import ADMIN_ID
from tests.scheduler.seed import add_joined_user, add_payment

EN_DAY = re.compile(r"^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$")
RU_DAY = re.compile(r"^\d{1,2} (янв|фев|мар|апр|мая|июн|июл|авг|сен|окт|ноя|дек)$")


async def seed(conn: asyncpg.Connection) -> None:
    await add_joined_user(conn, 1, joined_days_ago=40, trial_days_ago=35)     # before the window
    await add_joined_user(conn, 2, joined_days_ago=3, trial_days_ago=3)
    await add_joined_user(conn, 3, joined_days_ago=0, trial_days_ago=0)
    await add_joined_user(conn, 4, joined_days_ago=0)
    await add_payment(conn, 1, "27.00", "USD", paid_days_ago=40)                # before the window
    await add_payment(conn, 1, "2.50", "USD", paid_days_ago=29)                 # the window's first day
    await add_payment(conn, 2, "3.00", "USD", paid_days_ago=3)
    await add_payment(conn, 2, "150", "XTR", paid_days_ago=0, method="stars")
    await add_payment(conn, 3, "8.00", "USD", paid_days_ago=0)
    await add_payment(conn, 3, "5.00", "USD", paid_days_ago=0, status="refunded")   # not received
    await add_payment(conn, 4, "3.00", "USD", paid_days_ago=0, method="balance")    # counted as its top-up


async def test_daily_numbers_per_utc_day(conn: asyncpg.Connection) -> None:
    await seed(conn)
    stats = await daily_stats.fetch(conn, 30)
    today = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    assert stats.days == [today - timedelta(days=29 - i) for i in range(30)]
    assert (stats.new_users[-1], stats.new_users[-4], sum(stats.new_users)) == (2, 1, 3)
    assert (stats.trials[-1], stats.trials[-4], sum(stats.trials)) == (1, 1, 2)
    assert (stats.payments[-1], stats.payments[-4], stats.payments[0], sum(stats.payments)) == (2, 1, 1, 4)
    assert set(stats.revenue) == {"USD", "XTR"}
    usd = stats.revenue["USD"]
    assert (usd[-1], usd[-4], usd[0], stats.revenue_total("USD")) == (8, 3, Decimal("2.50"), Decimal("13.50"))
    assert stats.revenue["XTR"][-1] == 150 and stats.revenue_total("XTR") == 150


def sample(days: int = 30, revenue: bool = True) -> DailyStats:
    first = date(2026, 2, 1)
    calendar = [first + timedelta(days=i) for i in range(days)]
    usd = [Decimal(0)] * days
    stars = [Decimal(0)] * days
    usd[-1], usd[10] = Decimal("8.00"), Decimal("3.00")
    stars[-2] = Decimal(150)
    return DailyStats(days=calendar, new_users=[i % 5 for i in range(days)], trials=[i % 3 for i in range(days)],
                      payments=[1 if i in (10, days - 2, days - 1) else 0 for i in range(days)],
                      revenue={"XTR": stars, "USD": usd} if revenue else {})


@pytest.mark.parametrize("locale, day_label, expected", [
    ("en", EN_DAY, ("Daily statistics: 1 Feb 2026 – 2 Mar 2026 (UTC)", "2 Mar",
                    ["New users: 60", "Trials started: 30", "Payments received: 3"],
                    ["People and payments per day", "Revenue per day, USD — total 11.00 USD",
                     "Telegram Stars per day — total 150 ★"])),
    ("ru", RU_DAY, ("Статистика по дням: 1 фев 2026 – 2 мар 2026 (UTC)", "2 мар",
                    ["Новые пользователи: 60", "Пробный период: 30", "Оплаты: 3"],
                    ["Люди и оплаты по дням", "Выручка по дням, USD — всего 11.00 USD",
                     "Telegram Stars по дням — всего 150 ★"])),
])
def test_the_figure_has_a_dated_axis_labelled_series_and_totals(matplotlib_config, locale, day_label, expected):
    from services.scheduler.charts import figure

    title, today_label, legend, panels = expected
    drawn = figure.build(sample(), locale)
    drawn.canvas.draw()
    axes = drawn.axes
    assert drawn.get_suptitle() == title
    assert [ax.get_title(loc="left") for ax in axes] == panels     # fiat first, Stars last
    assert [text.get_text() for text in axes[0].get_legend().get_texts()] == legend
    dates = [label.get_text() for label in axes[-1].get_xticklabels() if label.get_text()]
    assert 5 <= len(dates) <= figure.MAX_DATE_LABELS and all(day_label.match(d) for d in dates), dates
    assert dates[-1] == today_label                                  # today is always labelled
    usd_labels = [text.get_text() for text in axes[1].texts if text.get_text()]
    assert usd_labels == ["3", "8"]                                  # each paid day's amount on its bar


def test_the_png_is_the_size_announced_and_not_blank(matplotlib_config):
    from services.scheduler.charts import figure

    for stats in (sample(), sample(revenue=False)):
        picture = Image.open(io.BytesIO(figure.png(stats, "en"))).convert("RGB")
        width, height = figure.size_px(stats)
        assert picture.size == (width, height) and width >= 1000
        assert picture.getpixel((2, 2)) == (255, 255, 255)          # a light background
        assert len(picture.getcolors(maxcolors=1 << 20)) > 50       # text, lines, bars, antialiasing
        # The people panel: a fifth of its area or more is not background (lines, markers, legend, grid).
        top = picture.crop((80, 60, width - 20, 60 + 200))
        inked = sum(count for count, colour in top.getcolors(maxcolors=1 << 20) if colour != (255, 255, 255))
        assert inked > 0.05 * top.width * top.height
        colours = {colour for _, colour in picture.getcolors(maxcolors=1 << 20)}
        assert _rgb(figure.NEW_USERS) in colours and _rgb(figure.TRIALS) in colours
        if stats.revenue:
            assert _rgb(figure.FIAT[0]) in colours and _rgb(figure.STARS) in colours


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_renders_in_a_worker_thread_shared_and_kept_a_minute(db: Database, conn, matplotlib_config,
                                                                   monkeypatch):
    await seed(conn)
    threads: list[str] = []
    real_draw = renderer_module.draw_png

    def recording_draw(*args):
        threads.append(threading.current_thread().name)
        return real_draw(*args)

    monkeypatch.setattr(renderer_module, "draw_png", recording_draw)
    clock = Clock()
    renderer = ChartRenderer(db, config_dir=matplotlib_config, clock=clock)
    try:
        first, second = await asyncio.gather(renderer.chart(30, "en"), renderer.chart(30, "en"))
        assert first is second and renderer.renders == 1             # two taps, one render
        assert threads == [threads[0]] and threads[0].startswith("chart") \
            and threads[0] != threading.main_thread().name
        assert (first.new_users, first.trials, first.payments) == (3, 2, 4)
        assert first.revenue == {"USD": Decimal("13.50"), "XTR": Decimal(150)}
        assert Image.open(io.BytesIO(first.png)).size == (1200, 1170)

        await add_joined_user(conn, 5, joined_days_ago=0)
        clock.now += 59
        assert await renderer.chart(30, "en") is first                # within the minute: the same picture
        other = await renderer.chart(30, "ru")                          # other parameters: their own picture
        assert renderer.renders == 2 and other.new_users == 4 and other.png != first.png
        clock.now += 2
        fresh = await renderer.chart(30, "en")
        assert renderer.renders == 3 and fresh.new_users == 4

        # A caller that gives up (its RPC deadline) does not cancel the render: the next one gets it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(renderer.chart(7, "en"), 0.001)
        week = await renderer.chart(7, "en")
        assert renderer.renders == 4 and len(week.png) > 0 and week.first_day == week.last_day - timedelta(days=6)
        assert renderer.describe()["cached"] == 3
    finally:
        renderer.close()


async def test_only_an_admin_gets_the_chart(db: Database, settings, matplotlib_config):
    renderer = ChartRenderer(db, config_dir=matplotlib_config)
    handlers = ChartHandlers(renderer, settings())
    try:
        with pytest.raises(RpcError) as refused:
            await handlers.render(ChartQuery(admin_id=ADMIN_ID + 1))
        assert refused.value.code == RpcErrorCode.FORBIDDEN and renderer.renders == 0
        chart = await handlers.render(ChartQuery(admin_id=ADMIN_ID, locale="ru"))
        assert chart.png.startswith(b"\x89PNG") and renderer.renders == 1
    finally:
        renderer.close()


def test_a_cache_folder_that_cannot_be_written_falls_back_to_a_private_temp_folder(tmp_path):
    wanted = tmp_path / "var" / "matplotlib"
    assert renderer_module.writable_dir(wanted) == wanted and wanted.is_dir()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    fallback = renderer_module.writable_dir(blocked / "matplotlib")
    try:
        assert fallback.is_dir() and fallback.name.startswith("atcs-matplotlib-")
        assert fallback.stat().st_mode & 0o777 == 0o700
    finally:
        fallback.rmdir()
