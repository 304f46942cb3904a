"""RPC methods served by scheduler: the admin's long jobs (broadcast, CSV export, backup on demand)
and the admin's chart (drawn here so that the bot never loads a plotting library).

Starting a job only writes a row and returns at once; the scheduler's leader does the work. Each
start carries the admin console's `request_id`: the same (admin_id, request_id) returns the same
job, so the bot may send it again after a timeout (retry_safe). The same request_id with a
different body is refused with `conflict`. Every method that acts checks that admin_id is one of
ATCS_ADMIN_IDS (`forbidden` otherwise) and writes admin_audit.

Progress reaches the admin without the bot: give `progress` (the admin's "working on it"
message, sent by the bot) and the scheduler edits it — counts, ETA and, for a broadcast, buttons
whose callback data is `broadcast_callback(...)` below. The bot's admin router parses it with
`parse_broadcast_callback` and calls PAUSE/RESUME/CANCEL_BROADCAST. Without `progress` the bot
can poll BROADCAST_STATE / EXPORT_STATE. An export's file is sent by the scheduler to `chat_id`
(default: the admin's private chat) as a document.

RENDER_CHART answers with the PNG itself (base64 on the wire, bytes in the model) and the period's
totals for the caption. Rendering is off the scheduler's event loop and a rendered chart is kept
for a minute per (days, locale), so repeated taps and retries after a timeout cost one render.
"""
from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from common.contract.base import INT8_MAX, Body, method

Audience = Literal["all", "active", "inactive", "trial", "never_subscribed"]
"""all: every user; active: subscription active now; inactive: had one, not active now;
trial: on an active trial; never_subscribed: no subscription ever. Users who blocked the bot or
are banned are never recipients."""
Locale = Literal["en", "ru"]   # language of the progress texts the scheduler writes
BroadcastStatus = Literal["queued", "running", "paused", "cancelled", "done", "failed"]
ExportKind = Literal["users", "subscriptions", "payments"]
ExportStatus = Literal["queued", "running", "sending", "done", "failed"]
JobStatus = Literal["queued", "running", "done", "failed"]
RequestId = Annotated[str, Field(min_length=1, max_length=64)]


class MessageRef(Body):
    chat_id: int
    message_id: int


# --- broadcast --------------------------------------------------------------------------------

class StartBroadcast(Body):
    admin_id: int
    request_id: RequestId
    # Telegram's limit is 4096 characters after HTML is parsed; the raw text may be longer. A text
    # Telegram refuses (bad HTML, too long) fails the broadcast on its first message.
    text: str = Field(min_length=1, max_length=16384)
    parse_mode: Literal["HTML"] | None = "HTML"
    link_preview: bool = False
    audience: Audience = "all"
    language: str | None = Field(None, min_length=2, max_length=16)   # only users with this language
    progress: MessageRef | None = None
    locale: Locale = "en"
    # Telegram's paid broadcasts (allow_paid_broadcast): up to 1000 messages/s instead of about 30,
    # each message beyond the free limit costing the bot 0.1 Star. QUOTE_BROADCAST says how much first.
    paid: bool = False


class QuoteBroadcast(Body):
    """What a broadcast to this audience would take, shown before the admin confirms it."""
    admin_id: int
    audience: Audience = "all"
    language: str | None = Field(None, min_length=2, max_length=16)


class BroadcastQuote(Body):
    recipients: int            # who would get it now (the audience is frozen when it starts)
    free_rate: float           # messages/s the scheduler sends at without paying
    paid_rate: float           # messages/s of a paid broadcast
    stars_estimate: Decimal    # paid: 0.1 Star per message expected beyond Telegram's free 30/s
    stars_max: Decimal         # paid: if every message were billed
    balance: Decimal | None    # the bot's Stars (getMyStarBalance); None when Telegram did not say
    balance_error: str | None  # why not


class BroadcastControl(Body):
    """PAUSE / RESUME / CANCEL. Idempotent: pausing a paused broadcast answers its state.
    Acting on a finished broadcast is `conflict`; an unknown id is `not_found`."""
    admin_id: int
    broadcast_id: int


class BroadcastQuery(Body):
    broadcast_id: int


class BroadcastState(Body):
    broadcast_id: int
    state: BroadcastStatus
    audience: Audience
    language: str | None
    total: int            # recipients (known once the broadcast left 'queued')
    sent: int
    failed: int
    blocked: int          # answered 403: marked users.blocked_bot, skipped from then on
    remaining: int
    in_doubt: int         # found mid-send after a scheduler crash and sent again (may be duplicates)
    throttled: int        # 429 answers received (and waited out)
    rate: float           # messages per second, recently
    eta_seconds: float | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    paid: bool = False    # a paid broadcast (allow_paid_broadcast)


class ListBroadcasts(Body):
    limit: int = Field(10, ge=1, le=50)


class BroadcastList(Body):
    broadcasts: list[BroadcastState]   # newest first


BroadcastAction = Literal["pause", "resume", "cancel"]
BROADCAST_CALLBACK_PREFIX = "bcast"


def broadcast_callback(action: BroadcastAction, broadcast_id: int) -> str:
    """Callback data of the progress message's buttons: "bcast:<action>:<id>" (aiogram
    CallbackData layout, prefix "bcast", fields action and broadcast_id)."""
    return f"{BROADCAST_CALLBACK_PREFIX}:{action}:{broadcast_id}"


def parse_broadcast_callback(data: str) -> tuple[BroadcastAction, int] | None:
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != BROADCAST_CALLBACK_PREFIX or parts[1] not in ("pause", "resume", "cancel"):
        return None
    if not (parts[2].isascii() and parts[2].isdigit()) or not 0 < int(parts[2]) <= INT8_MAX:
        return None   # not a broadcast id that can exist: refused like any stale button
    return parts[1], int(parts[2])  # type: ignore[return-value]


# --- CSV export -------------------------------------------------------------------------------

class StartExport(Body):
    admin_id: int
    request_id: RequestId
    kind: ExportKind
    chat_id: int | None = None           # where the document goes; default the admin's private chat
    progress: MessageRef | None = None
    locale: Locale = "en"


class ExportQuery(Body):
    export_id: int


class ExportState(Body):
    export_id: int
    kind: ExportKind
    state: ExportStatus
    rows: int | None
    bytes: int | None
    file_name: str | None     # users-12.csv, or users-12.csv.gz when gzipped to fit Telegram's limit
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# --- backup -----------------------------------------------------------------------------------

class StartBackup(Body):
    admin_id: int
    request_id: RequestId


class BackupQuery(Body):
    period: str | None = None    # None: the latest run, daily or manual


class BackupState(Body):
    period: str               # '2026-02-12' for the daily run, 'manual:<request_id>'
    state: JobStatus
    file_name: str | None
    bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# --- the admin's chart ------------------------------------------------------------------------

def _from_base64(value: Any) -> Any:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


# Bytes in the model, base64 in the JSON envelope (orjson has no bytes).
WireBytes = Annotated[bytes, BeforeValidator(_from_base64),
                      PlainSerializer(lambda raw: base64.b64encode(raw).decode("ascii"), return_type=str,
                                      when_used="json")]


class ChartQuery(Body):
    admin_id: int
    days: int = Field(30, ge=7, le=92)     # the last `days` UTC days, today included
    locale: Locale = "en"                  # language of the chart's title, axes and legend


class Chart(Body):
    png: WireBytes
    first_day: date
    last_day: date                         # today (UTC): its values are the day so far
    new_users: int                         # totals over the period, as drawn
    trials: int
    payments: int                          # purchases paid through a provider (Crypto Bot, Stars)
    revenue: dict[str, Decimal]            # currency -> received; XTR is Telegram Stars
    rendered_at: datetime                  # when this picture was drawn (it is reused for a minute)


START_BROADCAST = method("start_broadcast", "scheduler", StartBroadcast, BroadcastState, retry_safe=True)
QUOTE_BROADCAST = method("quote_broadcast", "scheduler", QuoteBroadcast, BroadcastQuote, retry_safe=True)
BROADCAST_STATE = method("broadcast_state", "scheduler", BroadcastQuery, BroadcastState, retry_safe=True)
LIST_BROADCASTS = method("list_broadcasts", "scheduler", ListBroadcasts, BroadcastList, retry_safe=True)
PAUSE_BROADCAST = method("pause_broadcast", "scheduler", BroadcastControl, BroadcastState, retry_safe=True)
RESUME_BROADCAST = method("resume_broadcast", "scheduler", BroadcastControl, BroadcastState, retry_safe=True)
CANCEL_BROADCAST = method("cancel_broadcast", "scheduler", BroadcastControl, BroadcastState, retry_safe=True)
START_EXPORT = method("start_export", "scheduler", StartExport, ExportState, retry_safe=True)
EXPORT_STATE = method("export_state", "scheduler", ExportQuery, ExportState, retry_safe=True)
RUN_BACKUP = method("run_backup", "scheduler", StartBackup, BackupState, retry_safe=True)
BACKUP_STATE = method("backup_state", "scheduler", BackupQuery, BackupState, retry_safe=True)
RENDER_CHART = method("render_chart", "scheduler", ChartQuery, Chart, retry_safe=True)
