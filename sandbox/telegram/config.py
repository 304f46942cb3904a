"""Tunable behaviour of the Telegram stand-in: identity of the bot and the limits Telegram enforces."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Methods that put a new message into a chat. Telegram's flood control counts these; edits and
# callback answers have their own (looser, undocumented) limits, so by default they are not counted.
DEFAULT_RATE_LIMITED_METHODS = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "sendInvoice", "copyMessage", "forwardMessage"}
)


@dataclass
class Limits:
    """Numbers that tests change at run time (POST /_control/limits)."""

    # Bot-wide: Telegram documents "about 30 messages per second" for bulk sends.
    global_rate: float = 30.0
    global_burst: float = 30.0
    # Per chat: "no more than one message per second" in a private chat, with a short burst tolerated.
    chat_rate: float = 1.0
    chat_burst: float = 3.0
    # Paid broadcasts (sendMessage with allow_paid_broadcast): up to 1000 messages per second; a
    # message sent beyond the free bot-wide limit above costs the bot's balance 0.1 Star.
    paid_rate: float = 1000.0
    paid_burst: float = 100.0
    # How long after a callback query the bot may still answer it.
    callback_answer_window: float = 15.0
    # How long the bot has to answer a pre_checkout_query (Telegram: 10 s); pay_invoice waits this long.
    pre_checkout_window: float = 10.0
    rate_limited_methods: frozenset[str] = field(default_factory=lambda: DEFAULT_RATE_LIMITED_METHODS)

    def updated(self, changes: dict[str, Any]) -> Limits:
        """Return a copy with `changes` applied; unknown keys and nonsense values are refused."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        values = dict(changes)
        if "rate_limited_methods" in values:
            values["rate_limited_methods"] = frozenset(values["rate_limited_methods"])
        for key, value in values.items():
            if key != "rate_limited_methods" and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"{key} must be a positive number")
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rate_limited_methods"] = sorted(self.rate_limited_methods)
        return data


@dataclass(frozen=True)
class StandInConfig:
    """Fixed for the life of a stand-in."""

    token: str = "123456:TEST-TOKEN"
    bot_username: str = "atcs_test_bot"
    bot_first_name: str = "ATCS Test Bot"
    # Telegram refuses to message users who never talked to the bot. Tests often seed users straight
    # into the database, so by default any positive chat id is a private chat; strict mode is real.
    strict_chats: bool = False
    # Real update ids start at an arbitrary large number; a non-trivial start catches code that
    # assumes they begin at 0 or 1.
    first_update_id: int = 100_000_001

    @property
    def bot_id(self) -> int:
        head = self.token.split(":", 1)[0]
        return int(head) if head.isdigit() else 1
