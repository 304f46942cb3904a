"""Everything one stand-in knows: users, chats and their messages, the update queue, callback and
pre-checkout queries, files, Star transactions, the call log. One event loop owns it, so plain
mutations are atomic; every change fires `wakeup` so long polls and test waits re-check.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .config import Limits, StandInConfig
from .errors import bad_request
from .faults import FaultSet
from .paid_broadcast import BotStarBalance
from .models import (
    CallbackRecord,
    CallRecord,
    FileRecord,
    InvoiceLinkRecord,
    MessageRecord,
    PreCheckoutRecord,
    StarSubscriptionRecord,
    StarTransactionRecord,
    UserRecord,
)
from .ratelimit import RateLimiter
from .wakeup import Wakeup

# Sent unless the bot asks for them explicitly (Bot API, getUpdates.allowed_updates).
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class ChatLog:
    messages: list[MessageRecord] = field(default_factory=list)
    next_message_id: int = 1
    version: int = 0  # bumped on every change, so waiters over HTTP can ask "anything new?"


class World:
    def __init__(self, config: StandInConfig, limits: Limits) -> None:
        self.config = config
        self.initial_limits = limits
        self.limits = limits
        self.limiter = RateLimiter(limits)
        self.faults = FaultSet()
        self.wakeup = Wakeup()
        self.closing = False
        # Survives reset(): a bot still polling with an old offset must see new updates.
        self._next_update_id = config.first_update_id
        self._serial = itertools.count(1)
        self.bot_user = {
            "id": config.bot_id,
            "is_bot": True,
            "first_name": config.bot_first_name,
            "username": config.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._clear()

    def _clear(self) -> None:
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatLog] = {}
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] | None = None  # None: Telegram's default set
        self.poll_generation = 0
        self.webhook_url = ""
        self.callbacks: dict[str, CallbackRecord] = {}
        self.pre_checkouts: dict[str, PreCheckoutRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.transactions: list[StarTransactionRecord] = []
        self.invoice_links: dict[str, InvoiceLinkRecord] = {}
        self.subscriptions: dict[str, StarSubscriptionRecord] = {}
        # Telegram's clock, ahead of the wall clock by what a test advanced it (renewals fall due on it).
        self.clock_offset = 0
        self.star_balance = BotStarBalance()
        self.calls: list[CallRecord] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}

    # --- lifecycle -------------------------------------------------------------------------------

    def reset(self) -> None:
        self._clear()
        self.faults.clear()
        self.set_limits(self.initial_limits)
        self.wakeup.fire()

    def set_limits(self, limits: Limits) -> None:
        self.limits = limits
        self.limiter.configure(limits)

    def close(self) -> None:
        """Release every waiter so the server can stop without waiting out long polls."""
        self.closing = True
        self.wakeup.fire()

    # --- ids -------------------------------------------------------------------------------------

    def serial(self) -> int:
        return next(self._serial)

    def new_query_id(self) -> str:
        # Real query ids are long decimal strings.
        return str(4_000_000_000_000_000_000 + self.config.bot_id * 1_000_000 + self.serial())

    def new_file_id(self, kind: str) -> tuple[str, str]:
        prefix = "AgAC" if kind == "photo" else "BQAC"
        unique = f"AQAD{self.serial():06d}"
        return f"{prefix}{secrets.token_urlsafe(24)}", unique

    # --- users and chats -------------------------------------------------------------------------

    def user(self, user_id: int, **profile: Any) -> UserRecord:
        """The user with this id, created on first sight; given profile fields overwrite old ones."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        record = self.users.get(user_id)
        if record is None:
            record = self.users[user_id] = UserRecord(id=user_id, first_name=f"User {user_id}")
        for key, value in profile.items():
            if value is not None:
                setattr(record, key, value)
        return record

    def chat_for_bot(self, chat_id: int | None) -> UserRecord:
        """The private chat (its user) a bot method names; what Telegram says when there is none."""
        if chat_id is None:
            raise bad_request("chat_id is empty")
        if chat_id <= 0 or (self.config.strict_chats and chat_id not in self.users):
            raise bad_request("chat not found")
        return self.user(chat_id)

    def chat(self, chat_id: int) -> ChatLog:
        log = self.chats.get(chat_id)
        if log is None:
            log = self.chats[chat_id] = ChatLog()
        return log

    def add_message(self, chat_id: int, *, from_bot: bool, **fields: Any) -> MessageRecord:
        log = self.chat(chat_id)
        message = MessageRecord(
            chat_id=chat_id,
            message_id=log.next_message_id,
            sender_id=self.config.bot_id if from_bot else chat_id,
            from_bot=from_bot,
            date=self.now(),  # Telegram's clock: ahead once a test advanced it
            **fields,
        )
        log.next_message_id += 1
        log.messages.append(message)
        self.touch(chat_id)
        return message

    def find_message(self, chat_id: int, message_id: int | None) -> MessageRecord | None:
        log = self.chats.get(chat_id)
        if log is None or message_id is None:
            return None
        for message in log.messages:
            if message.message_id == message_id and not message.deleted:
                return message
        return None

    def touch(self, chat_id: int) -> None:
        self.chat(chat_id).version += 1
        self.wakeup.fire()

    def message_api(self, message: MessageRecord) -> dict[str, Any]:
        user = self.user(message.chat_id)
        sender = self.bot_user if message.from_bot else user.api()
        return message.api(sender, user.private_chat())

    def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        log = self.chats.get(chat_id)
        return [m.transcript() for m in log.messages] if log else []

    # --- updates ---------------------------------------------------------------------------------

    def wants(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in NOT_SENT_BY_DEFAULT
        return kind in self.allowed_updates

    def enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update unless the bot's allowed_updates excludes it (then Telegram never creates it)."""
        if not self.wants(kind):
            return None
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self.updates.append(update)
        self.wakeup.fire()
        return update

    def confirm(self, offset: int) -> None:
        """getUpdates offset semantics: ids below a positive offset are forgotten; a negative offset
        keeps only the last -offset updates."""
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    # --- Stars -----------------------------------------------------------------------------------

    def new_charge_id(self) -> str:
        return f"stxm{secrets.token_hex(12)}{self.serial()}"

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def record_star_transaction(
        self,
        user_id: int,
        amount: int,
        payload: str,
        charge_id: str,
        *,
        refund: bool = False,
        subscription_period: int | None = None,
    ) -> StarTransactionRecord:
        record = StarTransactionRecord(
            id=charge_id,
            amount=amount,
            date=self.now(),
            user_id=user_id,
            payload=payload,
            refund=refund,
            subscription_period=subscription_period,
        )
        self.transactions.append(record)
        # The payer's Stars move with the transaction: a payment spends them, a refund gives them back.
        self.user(user_id).stars += amount if refund else -amount
        self.wakeup.fire()
        return record

    def star_payment(self, charge_id: str) -> StarTransactionRecord | None:
        return next((t for t in self.transactions if t.id == charge_id and not t.refund), None)

    def is_refunded(self, charge_id: str) -> bool:
        return any(t.id == charge_id and t.refund for t in self.transactions)

    def subscription_of_charge(self, charge_id: str) -> StarSubscriptionRecord | None:
        return next((s for s in self.subscriptions.values() if charge_id in s.charge_ids), None)

    def new_link_slug(self) -> str:
        return f"inv{secrets.token_urlsafe(9)}{self.serial()}"

    # --- files and calls -------------------------------------------------------------------------

    def add_file(self, record: FileRecord) -> FileRecord:
        self.files[record.file_id] = record
        return record

    def file_by_path(self, path: str) -> FileRecord | None:
        for record in self.files.values():
            if record.file_path == path:
                return record
        return None

    def record_call(self, method: str, params: dict[str, Any]) -> CallRecord:
        record = CallRecord(method=method, params=params, time=time.time())
        self.calls.append(record)
        self.wakeup.fire()  # lets a test wait for "the bot has called X" without polling
        return record
