"""Item 5 statistics: aggregate SQL over seeded rows; and the 30-day chart (issue 11, item 6),
drawn by the scheduler with matplotlib and sent by the bot as a photo — after "working on it" when
it takes longer than ATCS_BOT_ADMIN_DEADLINE, and a clear message when the scheduler is down."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from PIL import Image

from common.contract.base import RpcErrorCode
from common.contract.scheduler import Chart
from common.ipc import RpcError
from tests.bot.admin_support import AdminPerson, seed_purchase, seed_subscription, seed_user
from tests.bot.conftest import ServiceInProcess
from tests.support.wait import wait_for

CHART_BUTTON = "📈 Chart of the last 30 days"
WORKING = "The chart is being drawn"


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def seed(db: asyncpg.Connection) -> None:
    await seed_user(db, 8701, created_days_ago=40, trial_days_ago=35)      # trial, then paid: converted
    await seed_purchase(db, 8701, amount="3.00", currency="USD", method="cryptobot", paid_days_ago=10)
    await seed_user(db, 8702, trial_days_ago=0)                            # on a trial now, not paid
    await seed_subscription(db, 8702, trial=True)
    await seed_user(db, 8703, created_days_ago=5)
    await seed_subscription(db, 8703)
    await seed_purchase(db, 8703, amount="8.00", currency="USD", method="cryptobot")
    await seed_purchase(db, 8703, amount="150", currency="XTR", method="stars")
    await seed_user(db, 8704, created_days_ago=2)
    await seed_purchase(db, 8704, amount="27.00", currency="USD", method="cryptobot", paid_days_ago=40)  # too old
    await seed_purchase(db, 8704, amount="15.00", currency="USD", method="cryptobot", status="refunded")
    await seed_purchase(db, 8704, amount="3.00", currency="USD", method="balance")   # money already counted
    await seed_subscription(db, 8704, days_left=-1)                                   # expired


async def test_stats_screen_counts(bot, standin, db):
    await seed(db)
    admin = AdminPerson(standin)
    home = await admin.console()                         # the admin is a user too, joined today
    screen = await admin.press("📊 Statistics", home["message_id"], "Statistics")
    text = screen["text"]
    assert "Users: 5 (today +2, 30 days +4)" in text
    assert "Active subscriptions: 2 (of them trials: 1)" in text
    assert "Trials taken: 2, then paid: 1 — conversion 50.0%" in text
    assert "• 8.00 USD / 8.00 USD / 11.00 USD (2 payments in 30 days)" in text
    assert "• 150 ⭐ / 150 ⭐ / 150 ⭐ (1 payment in 30 days)" in text  # a plural by CLDR's rule
    assert text.index("USD /") < text.index("⭐ /")          # Stars apart, after the fiat currency


@pytest.fixture
async def real_scheduler(start_bot, tmp_path, matplotlib_config):
    """The bot and the real scheduler's `setup`, both in this event loop (see ServiceInProcess)."""
    from services.scheduler.settings import Settings
    from services.scheduler.app import setup

    await start_bot(ATCS_EXPORT_DIR=str(tmp_path / "exports"), ATCS_BACKUP_DIR=str(tmp_path / "backups"),
                    ATCS_BACKUP_ENABLED="false", ATCS_SCHEDULER_NICE="0")
    scheduler = ServiceInProcess("scheduler", Settings.read(), setup)    # the same environment
    await scheduler.start()
    yield scheduler
    await scheduler.stop()


async def open_stats(admin: AdminPerson) -> tuple[int, int]:
    home = await admin.console()
    await admin.press("📊 Statistics", home["message_id"], "Statistics")
    return home["message_id"], await admin.last_id()


async def test_chart_drawn_by_the_scheduler_with_dates_and_totals(real_scheduler, standin, db):
    await seed(db)
    admin = AdminPerson(standin)
    screen, after = await open_stats(admin)
    tap = await admin.tap(CHART_BUTTON, message_id=screen)
    assert (await admin.answer_of(tap))["answers"][0]["text"] == "📈 Drawing the chart…"
    photo = await standin.wait_for_message(admin.id, lambda m: m["photo"] is not None, after=after, timeout=30)

    today = datetime.now(UTC).date()
    caption = photo["caption"]
    assert f"{today - timedelta(days=29)} … {today} (UTC)" in caption
    assert "New users: 4 · trials started: 1 · payments: 3" in caption
    assert "Revenue: 11.00 USD, 150 ⭐" in caption                  # fiat first, Stars last
    picture = Image.open(io.BytesIO(await standin.file_bytes(photo["photo"]["file_id"]))).convert("RGB")
    assert picture.size == (1200, 1170)                               # people, USD and Stars panels
    assert picture.getpixel((2, 2)) == (255, 255, 255)
    colours = picture.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50
    inked = sum(count for count, colour in colours if colour != (255, 255, 255))
    assert inked > 0.03 * picture.width * picture.height            # lines, bars, text: not blank
    # A working message, if the first render outlasted the deadline, goes once the photo is here.
    async def no_working_message_left() -> bool:
        return all(m["deleted"] for m in await standin.transcript(admin.id) if m["text"] and WORKING in m["text"])
    await wait_for(no_working_message_left, timeout=5, message="no 'working on it' message left")


def tiny_chart() -> Chart:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (46, 125, 210)).save(out, format="PNG")
    today = date.today()
    return Chart(png=out.getvalue(), first_day=today - timedelta(days=29), last_day=today, new_users=7, trials=2,
                 payments=1, revenue={"XTR": Decimal(150)}, rendered_at=datetime.now(UTC))


async def test_slow_chart_says_working_on_it_then_sends_the_photo(start_bot, scheduler, standin):
    await start_bot(ATCS_BOT_ADMIN_DEADLINE="0.3")
    admin = AdminPerson(standin)
    screen, after = await open_stats(admin)

    scheduler.chart_error = RpcError(RpcErrorCode.FORBIDDEN, "999001 is not in ATCS_ADMIN_IDS")
    await admin.tap(CHART_BUTTON, message_id=screen)
    refused = await admin.reply(after, "scheduler refused")
    assert "forbidden: 999001 is not in ATCS_ADMIN_IDS" in refused["text"]

    scheduler.chart_error = None
    scheduler.chart = tiny_chart()
    scheduler.chart_gate.clear()                                     # the scheduler takes its time
    after = await admin.last_id()
    await admin.tap(CHART_BUTTON, message_id=screen)
    working = await admin.reply(after, WORKING)
    assert await admin.last_id() == working["message_id"]           # no photo yet
    scheduler.chart_gate.set()
    photo = await standin.wait_for_message(admin.id, lambda m: m["photo"] is not None, after=after, timeout=10)
    assert "New users: 7 · trials started: 2 · payments: 1" in photo["caption"] and "150 ⭐" in photo["caption"]
    assert await standin.file_bytes(photo["photo"]["file_id"]) == scheduler.chart.png

    async def working_removed() -> bool:
        return any(m["message_id"] == working["message_id"] and m["deleted"]
                   for m in await standin.transcript(admin.id))
    await wait_for(working_removed, timeout=5, message="the working message removed")


async def test_scheduler_down_gives_a_clear_message(start_bot, standin):
    await start_bot(ATCS_BOT_ADMIN_DEADLINE="0.3", ATCS_BOT_FOLLOWUP_TIMEOUT="1")   # no scheduler at all
    admin = AdminPerson(standin)
    screen, after = await open_stats(admin)
    await admin.tap(CHART_BUTTON, message_id=screen)
    working = await admin.reply(after, WORKING)
    gave_up = await admin.wait_screen(working["message_id"], "scheduler is not answering right now", timeout=10)
    assert "Traceback" not in gave_up["text"] and "Error id" not in gave_up["text"]
    assert not any(m["photo"] for m in await standin.transcript(admin.id))
