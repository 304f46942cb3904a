"""How dates, traffic and keys look in the bot's messages (money and durations: common/texts)."""
from __future__ import annotations

import html
import math
from datetime import datetime, timezone

from services.bot.i18n import Raw


def parse_time(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def date(value: datetime | str | None) -> str:
    moment = parse_time(value)
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def days_left(expires_at: datetime | str | None, now: datetime | None = None) -> int:
    moment = parse_time(expires_at)
    if moment is None:
        return 0
    now = now or datetime.now(timezone.utc)
    seconds = (moment - now).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def traffic(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def key_block(access_key: str) -> Raw:
    """Monospace: one tap copies it in every Telegram client."""
    return Raw(f"<code>{html.escape(access_key)}</code>")
