"""Composition root of the bot process."""
from __future__ import annotations

from common.lifecycle import ServiceContext


async def setup(ctx: ServiceContext) -> None:
    token = ctx.settings.telegram.bot_token

    def telegram_configured() -> tuple[bool, str]:
        if token is None or not token.get_secret_value():
            return False, "ATCS_BOT_TOKEN is not set: no Telegram bot to run (the README's run command starts the demo sandbox)"
        return True, ""

    ctx.add_readiness("telegram", telegram_configured)
