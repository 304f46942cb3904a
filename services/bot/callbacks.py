"""Every button's callback data, as aiogram CallbackData factories (packed within Telegram's 64 bytes).

Values that name something (a flow, a plan, a reissue confirmation) are checked by the handler
against the user's own FSM data or the database; data that does not parse matches no handler and
is refused by the fallback router, so a tampered button never changes anything.

Every field is bounded here, once: an integer to its column's range (a forged `p:<flow>:2147483648`
would otherwise reach PostgreSQL and fail there with a traceback), a nonce to the alphabet and
length `new_nonce` draws. Out of bounds is unparseable, so it gets the fallback's stale answer.
"""
from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import itertools
import secrets
from contextlib import contextmanager
from enum import Enum
from typing import Iterator
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from common.contract.base import INT4_MAX, INT8_MAX, Id4, Id8

NONCE_LENGTH = 8
Nonce = Annotated[str, Field(pattern=rf"^[A-Za-z0-9_-]{{1,{NONCE_LENGTH}}}$")]
NoNonce = Annotated[str, Field(pattern=rf"^[A-Za-z0-9_-]{{0,{NONCE_LENGTH}}}$")]   # may be absent ("")
Amount = Annotated[int, Field(ge=1, le=INT4_MAX)]
IdOrZero = Annotated[int, Field(ge=0, le=INT8_MAX)]    # an optional id (0: none) or a number of days
Id4OrZero = Annotated[int, Field(ge=0, le=INT4_MAX)]   # an optional serial id (0: none): plans, promo codes


# While an update is handled, its nonces are drawn from the update instead of at random: a poller
# that takes over an update its predecessor had answered but not yet marked finished (killed in
# between) handles it again, and the repeat must leave the flow the user sees valid — the same
# nonce in the FSM as on the screen already shown, not a fresh one that makes it "out of date".
_update_nonces: contextvars.ContextVar[tuple[bytes, Iterator[int]] | None] = contextvars.ContextVar(
    "update_nonces", default=None)


@contextmanager
def nonces_of_update(secret: str, update_id: int) -> Iterator[None]:
    """Nonces drawn inside are a keyed digest of (update, draw number): the same on every handling
    of the update, unguessable without `secret` (the bot token), different for every update."""
    key = hmac.new(secret.encode(), b"atcs-nonce:%d" % update_id, hashlib.sha256).digest()
    token = _update_nonces.set((key, itertools.count()))
    try:
        yield
    finally:
        _update_nonces.reset(token)


def new_nonce() -> str:
    """A short id for one flow or screen, carried in its buttons' data (8 characters) and kept in
    the FSM: a button from an older screen or a forged one carries another and is refused."""
    drawn = _update_nonces.get()
    if drawn is None:
        return secrets.token_urlsafe(NONCE_LENGTH * 3 // 4)
    key, draws = drawn
    digest = hmac.new(key, b"%d" % next(draws), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:NONCE_LENGTH * 3 // 4]).decode()



class Screen(str, Enum):
    HOME = "home"
    BUY = "buy"
    SUBSCRIPTION = "sub"
    TRIAL = "trial"
    REFERRALS = "ref"
    BALANCE = "bal"
    HELP = "help"
    LANGUAGE = "lang"
    GIFTS = "gifts"


class MenuCb(CallbackData, prefix="m"):
    to: Screen


class PayMethod(str, Enum):
    CRYPTOBOT = "cryptobot"
    STARS = "stars"
    STARS_MONTHLY = "starsub"   # a Telegram Stars subscription, renewed by Telegram every 30 days


class PlanCb(CallbackData, prefix="p"):
    flow: Nonce        # the purchase flow this keyboard belongs to (FSM data)
    plan: Id4


class PayCb(CallbackData, prefix="pm"):
    flow: Nonce
    method: PayMethod


class BuyOption(str, Enum):
    PROMO = "promo"          # asks for a promo code
    DROP_PROMO = "nopromo"
    GIFT = "gift"            # the chosen plan as a gift
    SELF = "self"            # ...or for oneself again
    FREE = "free"            # claims the plan the code makes free


class BuyOptCb(CallbackData, prefix="bo"):
    flow: Nonce
    option: BuyOption


class TopupCb(CallbackData, prefix="t"):
    flow: Nonce
    amount: Amount     # whole units of the shop's fiat currency


class SubAction(str, Enum):
    REISSUE = "reissue"
    AUTO_RENEW = "autorenew"
    HOWTO = "howto"
    REFRESH = "refresh"
    CHANGE = "change"          # another plan, prorated
    TRAFFIC = "traffic"        # a traffic package on top of the plan's limit
    STARS_CANCEL = "scancel"   # the Stars subscription's renewal off...
    STARS_RESUME = "sresume"   # ...and back on
    DEVICES = "devices"        # the devices the panel has seen
    FREEZE = "freeze"          # asks how long to pause
    UNFREEZE = "unfreeze"      # resumes a paused subscription now


class SubCb(CallbackData, prefix="s"):
    action: SubAction


class ChangeCb(CallbackData, prefix="c"):
    nonce: Nonce       # the change screen's own id (FSM data); with the plan, the CHANGE_PLAN request_id
    plan: Id4
    confirm: bool = False


class TrafficMethod(str, Enum):
    BALANCE = "balance"
    CRYPTOBOT = "cryptobot"
    STARS = "stars"


# An ATCS_TRAFFIC_PACKAGES id as common/settings/traffic.py bounds it; one not on sale is refused
# by the handler (it is looked up in the settings, never trusted).
PackageId = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,12}$")]


class TrafficCb(CallbackData, prefix="x"):
    flow: Nonce        # the packages screen's own id (FSM data); with the package and method, the request_id
    package: PackageId
    method: TrafficMethod | None = None   # None: the package chosen, its payment methods shown


class DeviceCb(CallbackData, prefix="d"):
    nonce: Nonce       # the device screen's own id (FSM data, with the device ids it showed)
    index: Annotated[int, Field(ge=0, le=99)]


class FreezeCb(CallbackData, prefix="f"):
    nonce: Nonce       # the pause screen's own id (FSM data)
    days: Annotated[int, Field(ge=1, le=365)]


class ReissueCb(CallbackData, prefix="r"):
    nonce: Nonce       # the confirmation screen's own id (FSM data); also the REISSUE request_id
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
    PROMOS = "promos"


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
    user: Id8
    nonce: Nonce
    arg: IdOrZero = 0          # days to grant, or a purchase id


class AdminBroadcastAction(str, Enum):
    AUDIENCE = "aud"
    SEND = "send"
    EDIT = "edit"
    DROP = "drop"


class AdminBroadcastCb(CallbackData, prefix="ab"):
    action: AdminBroadcastAction
    nonce: Nonce               # the draft's id (FSM data); also the START_BROADCAST request_id
    audience: str = ""


class AdminBroadcastModeCb(CallbackData, prefix="abm"):
    """Free or paid (Telegram's allow_paid_broadcast) pace for the draft of this nonce."""
    nonce: Nonce
    paid: bool


class AdminExportCb(CallbackData, prefix="ax"):
    kind: str                  # an ExportKind, checked by the handler
    nonce: Nonce


class AdminBulkAction(str, Enum):
    START = "start"
    REFRESH = "refresh"
    CANCEL = "cancel"


class AdminBulkCb(CallbackData, prefix="ar"):
    action: AdminBulkAction
    nonce: NoNonce = ""
    job: IdOrZero = 0


class AdminPromoAction(str, Enum):
    SHOW = "show"              # code: the code's card
    DISABLE = "off"            # code
    NEW = "new"                # asks for the code's text
    KIND = "kind"              # arg: index in PROMO_KINDS (1-based); draft
    PLAN = "plan"              # arg: plan id to toggle; draft
    USES = "uses"              # asks for a number; draft
    ONCE = "once"              # toggles; draft
    FIRST = "first"            # toggles; draft
    DATES = "dates"            # asks for the period; draft
    CREATE = "create"          # draft


class AdminPromoCb(CallbackData, prefix="ap"):
    action: AdminPromoAction
    nonce: NoNonce = ""        # the draft's id (FSM data), for the draft's buttons
    code: Id4OrZero = 0        # a promo_codes id
    arg: Id4OrZero = 0         # a plan id or a kind's index
