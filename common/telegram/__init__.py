"""Telegram's Bot API as the services that call it themselves (not through aiogram) see it."""
