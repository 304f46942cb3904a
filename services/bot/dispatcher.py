"""The dispatcher: FSM in PostgreSQL, the middlewares once in their order, the routers.

aiogram registers its FSM middleware first when it builds a Dispatcher, so loading the state would
run before our exception boundary and callback answering, and a database error there would reach
no user. The FSM middleware is therefore created disabled and registered here, last: every
update passes the callback answerer, the boundary, throttling, the database gate, the user upsert
and the ban check before its state is read.
"""
from __future__ import annotations

from typing import Any

from aiogram import Dispatcher
from aiogram.fsm.storage.memory import SimpleEventIsolation

from services.bot.settings import Settings
from common.db.database import Database
from services.bot.handlers import build_routers
from services.bot.i18n import Translations
from services.bot.inline_filters import run_filters_inline
from services.bot.middlewares.ban import BanCheck
from services.bot.middlewares.callback_answer import CallbackAnswerMiddleware
from services.bot.middlewares.database_gate import DatabaseGate
from services.bot.middlewares.errors import ExceptionBoundary
from services.bot.middlewares.throttle import Throttle
from services.bot.middlewares.user import UserMiddleware
from services.bot.repositories.fsm_storage import PostgresStorage


def build_dispatcher(*, db: Database, settings: Settings, texts: Translations, **services: Any) -> Dispatcher:
    """`services` (peers, followups, invoices, ...) reach handlers by name, as workflow data."""
    dp = Dispatcher(
        storage=PostgresStorage(db),
        # One update at a time per user: a double tap sees the state the first tap left.
        events_isolation=SimpleEventIsolation(),
        disable_fsm=True,
        db=db, settings=settings, texts=texts, **services,
    )
    dp.update.outer_middleware(CallbackAnswerMiddleware())
    dp.update.outer_middleware(ExceptionBoundary())
    dp.update.outer_middleware(Throttle(settings.bot.bot_throttle_rate, settings.bot.bot_throttle_burst))
    dp.update.outer_middleware(DatabaseGate(db))
    dp.update.outer_middleware(UserMiddleware(db, texts, dp.fsm))
    dp.update.outer_middleware(BanCheck())
    dp.update.outer_middleware(dp.fsm)
    dp.include_routers(*build_routers(settings))
    run_filters_inline(dp)
    return dp
