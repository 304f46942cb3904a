"""Every button's callback data, as aiogram CallbackData factories (packed within Telegram's 64 bytes).

Values that name something (a flow, a plan, a reissue confirmation) are checked by the handler
against the user's own FSM data or the database; data that does not parse matches no handler and
is refused by the fallback router, so a tampered button never changes anything.
"""
from __future__ import annotations

from enum import Enum

from aiogram.filters.callback_data import CallbackData


class Screen(str, Enum):
    HOME = "home"
    BUY = "buy"
    SUBSCRIPTION = "sub"
    TRIAL = "trial"
    REFERRALS = "ref"
    BALANCE = "bal"
    HELP = "help"
    LANGUAGE = "lang"


class MenuCb(CallbackData, prefix="m"):
    to: Screen


class PayMethod(str, Enum):
    CRYPTOBOT = "cryptobot"
    STARS = "stars"


class PlanCb(CallbackData, prefix="p"):
    flow: str          # the purchase flow this keyboard belongs to (FSM data)
    plan: int


class PayCb(CallbackData, prefix="pm"):
    flow: str
    method: PayMethod


class TopupCb(CallbackData, prefix="t"):
    flow: str
    amount: int        # whole units of the shop's fiat currency


class SubAction(str, Enum):
    REISSUE = "reissue"
    AUTO_RENEW = "autorenew"
    HOWTO = "howto"
    REFRESH = "refresh"


class SubCb(CallbackData, prefix="s"):
    action: SubAction


class ReissueCb(CallbackData, prefix="r"):
    nonce: str         # the confirmation screen's own id (FSM data); also the REISSUE request_id
    confirm: bool


class Platform(str, Enum):
    ANDROID = "android"
    IOS = "ios"
    WINDOWS = "windows"
    MACOS = "macos"
    LINUX = "linux"


class HowtoCb(CallbackData, prefix="h"):
    platform: Platform


class LangCb(CallbackData, prefix="l"):
    code: str
