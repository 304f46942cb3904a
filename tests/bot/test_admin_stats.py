"""Item 5 statistics: aggregate SQL over seeded rows, and the 30-day chart as a PNG drawn in a
worker thread and sent as a photo."""
from __future__ import annotations

import threading

import asyncpg
import pytest

from services.bot.handlers.admin import stats as stats_screen
from services.bot.handlers.admin.stats import REVENUE_COLOR, STARS_COLOR, USERS_COLOR
from tests.bot.admin_support import AdminPerson, decode_png, seed_purchase, seed_subscription, seed_user


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
    assert "• 150 ⭐ / 150 ⭐ / 150 ⭐ (1 payments in 30 days)" in text
    assert text.index("USD /") < text.index("⭐ /")          # Stars apart, after the fiat currency


async def test_chart_is_a_png_drawn_off_the_event_loop(bot, standin, db, monkeypatch):
    await seed(db)
    drawn_in: list[str] = []
    real_draw = stats_screen.chart.draw

    def recording_draw(series):
        drawn_in.append(threading.current_thread().name)
        return real_draw(series)

    monkeypatch.setattr(stats_screen.chart, "draw", recording_draw)
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("📊 Statistics", home["message_id"], "Statistics")
    after = await admin.last_id()
    await admin.tap("📈 Chart of the last 30 days", message_id=home["message_id"])
    photo = await standin.wait_for_message(admin.id, lambda m: m["photo"] is not None, after=after)
    assert drawn_in and drawn_in[0] != threading.main_thread().name
    assert "total 11.00 USD" in photo["caption"] and "total 150 ⭐" in photo["caption"]
    assert "new users (total 4)" in photo["caption"]
    width, height, rows = decode_png(await standin.file_bytes(photo["photo"]["file_id"]))
    assert (width, height) == (640, 12 + 3 * (130 + 12))

    def colours_in(top: int) -> set[tuple[int, int, int]]:
        found = set()
        for row in rows[top:top + 142]:
            found.update(tuple(row[i:i + 3]) for i in range(0, len(row), 3))
        return found

    assert REVENUE_COLOR in colours_in(0) and STARS_COLOR in colours_in(142) and USERS_COLOR in colours_in(284)
    # Today's fiat bar (the last one, 8.00) is the tallest of its panel: it reaches the top of the plot.
    last_bar_column = 640 - 12 - 8
    tall = [y for y in range(12, 12 + 130) if tuple(rows[y][last_bar_column * 3:last_bar_column * 3 + 3])
            == REVENUE_COLOR]
    assert tall and min(tall) <= 12 + 16 + 1
