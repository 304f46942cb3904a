"""Routers, one factory per feature; their order is the order filters are tried."""
from __future__ import annotations

from aiogram import Router

from services.bot.settings import Settings
from services.bot.handlers import (
    admin, balance, buy, chat_member, devices, fallback, freeze, gifts, language, plan_change, referrals, start, stars,
    subscription, traffic, trial,
)


def build_routers(settings: Settings) -> list[Router]:
    return [
        admin.router(settings.telegram.admin_ids),
        stars.router(),          # money first: a payment update must never fall through
        chat_member.router(),
        start.router(),
        language.router(),
        trial.router(),
        buy.router(),
        gifts.router(),
        balance.router(),
        subscription.router(),
        plan_change.router(),
        traffic.router(),
        devices.router(),
        freeze.router(),
        referrals.router(),
        fallback.router(),       # last: whatever nobody else took
    ]
