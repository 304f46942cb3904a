"""Small pieces: the bot's translator, callback data, FSM storage, safe edits (the catalogue itself:
tests/foundation/test_texts.py)."""
from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StorageKey

from common.contract.outbox import Notice
from services.bot.callbacks import (
    HowtoCb, LangCb, MenuCb, PayCb, PayMethod, Platform, PlanCb, ReissueCb, Screen, SubAction, SubCb, TopupCb,
)
from services.bot.i18n import Translations
from services.bot.middlewares.throttle import Throttle
from services.bot.notifications.render import RENDERERS
from services.bot.repositories.fsm_storage import PostgresStorage
from services.bot.states import Buy
from tests.support.database import connected_database


def test_bot_and_scheduler_label_broadcast_controls_alike():
    """The bot puts the controls on the progress message at once and the scheduler redraws them with every
    progress edit: whichever edit lands last, the admin must see the same buttons."""
    from common.texts import text as scheduler_text

    texts = Translations()
    for locale in texts.locales:
        for action in ("pause", "resume", "cancel"):
            assert texts.get(locale)(f"admin.broadcast_{action}") == scheduler_text(locale, f"broadcast.{action}"), \
                (locale, action)


def test_every_panel_backend_names_the_app_that_opens_its_keys():
    """A backend added to the config without an app here would send its users to the wrong client."""
    import typing

    from services.vpn_gateway.settings import VpnServer
    from services.bot.vpn_apps import APPS

    backends = set(typing.get_args(VpnServer.model_fields["backend"].annotation))
    assert backends and backends == set(APPS)


def test_every_notice_kind_has_a_renderer():
    assert {str(kind) for kind in Notice} == {str(kind) for kind in RENDERERS}


def test_translator_escapes_parameters_and_resolves_languages():
    texts = Translations()
    assert texts.resolve("ru-RU") == "ru" and texts.resolve("pt-br") == "en" and texts.resolve(None) == "en"
    t = texts.get("en")
    assert "&lt;script&gt;" in t("start.welcome", name="<script>")
    assert "{" not in t("notice.payment_received", amount="1 USD")  # a missing parameter renders, never crashes


def test_callback_data_fits_64_bytes_at_its_largest():
    flow = "A" * 8  # secrets.token_urlsafe(6)
    samples = [MenuCb(to=max(Screen, key=lambda s: len(s.value))), PlanCb(flow=flow, plan=2 ** 31 - 1),
               PayCb(flow=flow, method=PayMethod.CRYPTOBOT), TopupCb(flow=flow, amount=10 ** 6),
               SubCb(action=SubAction.AUTO_RENEW), ReissueCb(nonce=flow, confirm=False),
               HowtoCb(platform=Platform.WINDOWS), LangCb(code="zh-hant")]
    for sample in samples:
        assert len(sample.pack().encode()) <= 64, sample


def test_throttle_refills():
    now = [0.0]
    throttle = Throttle(rate=1.0, burst=2, clock=lambda: now[0])
    assert throttle.take(1) == (True, False)
    assert throttle.take(1) == (True, False)
    assert throttle.take(1) == (False, True)
    assert throttle.take(1) == (False, False)
    assert throttle.take(2) == (True, False)   # per user
    now[0] = 1.0
    assert throttle.take(1) == (True, False)


async def test_fsm_storage_survives_a_new_instance(database_url):
    async with connected_database(database_url, service="bot") as db:
        key = StorageKey(bot_id=1, chat_id=7, user_id=7)
        storage = PostgresStorage(db)
        assert await storage.get_state(key) is None and await storage.get_data(key) == {}
        await storage.set_state(key, Buy.method)
        await storage.set_data(key, {"flow": "abc", "plan": 3})
        again = PostgresStorage(db)
        assert await again.get_state(key) == Buy.method.state
        assert await again.get_data(key) == {"flow": "abc", "plan": 3}
        assert await again.update_data(key, {"plan": 4}) == {"flow": "abc", "plan": 4}
        await again.set_state(key, None)
        assert await again.get_state(key) is None
        other = StorageKey(bot_id=1, chat_id=8, user_id=8)
        assert await again.get_data(other) == {}
        with pytest.raises(TypeError):
            await again.set_data(key, ["not", "a", "mapping"])  # type: ignore[arg-type]
        # Clearing a user who never started a flow writes nothing: no row appears.
        stranger = StorageKey(bot_id=1, chat_id=9, user_id=9)
        await again.set_state(stranger, None)
        await again.set_data(stranger, {})
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM bot_fsm WHERE key = $1", again.row_key(stranger)) == 0
        # Clearing a flow in progress empties it.
        await again.set_state(key, Buy.method)
        await again.set_data(key, {"flow": "x"})
        await again.set_state(key, None)
        await again.set_data(key, {})
        fresh = PostgresStorage(db)
        assert await fresh.get_state(key) is None and await fresh.get_data(key) == {}


async def test_safe_edit_handles_not_modified_and_deleted(standin):
    from common.settings.telegram import TelegramSettings
    from services.bot.settings import Settings
    from services.bot.telegram.safe_edit import safe_edit
    from services.bot.telegram.session import build_bot
    from tests.bot.conftest import TOKEN

    settings = Settings.read()
    settings.telegram = TelegramSettings(bot_token=TOKEN, telegram_api_url=standin.url)
    bot = build_bot(settings, TOKEN)
    try:
        sent = await bot.send_message(6001, "hello")
        assert await safe_edit(bot, 6001, sent.message_id, "hello") == sent.message_id   # not modified: fine
        assert await safe_edit(bot, 6001, sent.message_id, "changed") == sent.message_id
        await bot.delete_message(6001, sent.message_id)
        new_id = await safe_edit(bot, 6001, sent.message_id, "after delete")
        assert new_id != sent.message_id
        texts = [m["text"] for m in await standin.transcript(6001) if not m["deleted"]]
        assert texts == ["after delete"]
    finally:
        await bot.session.close()
