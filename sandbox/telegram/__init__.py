"""A local Telegram Bot API stand-in speaking the real HTTP protocol on loopback.

Point a bot at it with ATCS_TELEGRAM_API_URL=<url> (aiogram: TelegramAPIServer.from_base(url)),
drive users through TelegramStandIn (in-process) or TelegramControl (over HTTP), and read back
what the bot did. Run standalone with `python -m sandbox.telegram`; with web_chat=True (or --web-chat)
it also serves the web chat at /chat, where a person talks to the bot from a browser (sandbox.webchat).
"""

from .config import Limits, StandInConfig
from .control import ControlRequestError, TelegramControl
from .errors import ControlError
from .server import TelegramStandIn

__all__ = ["ControlError", "ControlRequestError", "Limits", "StandInConfig", "TelegramControl", "TelegramStandIn"]
