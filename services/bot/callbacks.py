"""Every button's callback data, as aiogram CallbackData factories (packed within Telegram's 64 bytes).

Values that name something (a flow, a plan, a reissue confirmation) are checked by the handler
against the user's own FSM data or the database; data that does not parse matches no handler and
is refused by the fallback router, so a tampered button never changes anything.
"""
from __future__ import annotations

import secrets
from enum import Enum

from aiogram.filters.callback_data import CallbackData


def new_nonce() -> str:
    """A short random id for one flow or screen, carried in its buttons' data (8 characters) and kept
    in the FSM: a button from an older screen or a forged one carries another and is refused."""
    return secrets.token_urlsafe(6)


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


# --- the admin console ---------------------------------------------------------------------------
# Only ever acted on under the admin router, which is filtered by ATCS_ADMIN_IDS once: the same
# data sent by anyone else matches no admin handler and is refused by the fallback router.
# A `nonce` is drawn when a screen is drawn; it makes the request_id of what its buttons start,
# so a double tap or a replayed tap repeats the same request instead of acting twice.

class AdminScreen(str, Enum):
    HOME = "home"
    STATS = "stats"
    CHART = "chart"
    USERS = "users"
    BROADCAST = "bc"
    EXPORT = "export"
    BULK = "bulk"
    STATUS = "status"
    AUDIT = "audit"


class AdminCb(CallbackData, prefix="a"):
    to: AdminScreen


class AdminUserAction(str, Enum):
    SHOW = "show"
    GRANT = "grant"            # arg: days
    GRANT_OTHER = "grantx"     # asks for a number of days
    BAN = "ban"
    UNBAN = "unban"
    REISSUE = "reissue"        # asks to confirm
    REISSUE_OK = "reissueok"
    PURCHASES = "buys"
    REFUND = "refund"          # arg: purchase id; asks to confirm
    REFUND_OK = "refundok"


class AdminUserCb(CallbackData, prefix="au"):
    action: AdminUserAction
    user: int
    nonce: str
    arg: int = 0


class AdminBroadcastAction(str, Enum):
    AUDIENCE = "aud"
    SEND = "send"
    EDIT = "edit"
    DROP = "drop"


class AdminBroadcastCb(CallbackData, prefix="ab"):
    action: AdminBroadcastAction
    nonce: str                 # the draft's id (FSM data); also the START_BROADCAST request_id
    audience: str = ""


class AdminExportCb(CallbackData, prefix="ax"):
    kind: str                  # an ExportKind, checked by the handler
    nonce: str


class AdminBulkAction(str, Enum):
    START = "start"
    REFRESH = "refresh"
    CANCEL = "cancel"


class AdminBulkCb(CallbackData, prefix="ar"):
    action: AdminBulkAction
    nonce: str = ""
    job: int = 0
