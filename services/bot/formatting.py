"""How numbers, dates, traffic and keys look in messages (the same everywhere)."""
from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from decimal import Decimal

from services.bot.i18n import Raw


def money(amount: Decimal | int | float | str, currency: str) -> str:
    if currency.upper() == "XTR":
        return f"{int(Decimal(str(amount)))} ⭐"
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'))} {currency}"


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


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
