"""Typed keys for objects stored on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from .actions import UserActions
from .state import World

WORLD = web.AppKey("telegram_world", World)
ACTIONS = web.AppKey("telegram_actions", UserActions)
