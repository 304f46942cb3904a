"""What people type where the bot expects a number or a code (/user 12345, days to grant, a
/start deep link): parsed here, within the bounds the database can hold, or refused as None.

str.isdigit() is not enough: it accepts '²', which int() then refuses with a traceback, and
'99999999999999999999', which PostgreSQL refuses as out of bigint range.
"""
from __future__ import annotations

import re

from common.contract.base import INT8_MAX

_DIGITS = re.compile(r"[0-9]{1,19}")
# Telegram's alphabet and length for a deep-link payload (t.me/<bot>?start=<payload>).
_DEEP_LINK = re.compile(r"[A-Za-z0-9_-]{1,64}")


def positive_id(text: str) -> int | None:
    """A positive number that fits a bigint column (a Telegram user id, a row id, days)."""
    text = text.strip()
    if not _DIGITS.fullmatch(text) or not 0 < int(text) <= INT8_MAX:
        return None
    return int(text)


def deep_link_payload(text: str) -> str | None:
    text = text.strip()
    return text if _DEEP_LINK.fullmatch(text) else None
