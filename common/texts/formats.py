"""How an amount of money and a length of time read in any service's message."""
from __future__ import annotations

from decimal import Decimal
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.units import format_unit

STARS = "XTR"


def money(amount: Decimal | int | float | str, currency: str, *, star: str = "⭐") -> str:
    """12.30 USD; Telegram Stars are whole: 150 ⭐ (a chart passes a star its font can draw)."""
    if currency.upper() == STARS:
        return f"{int(Decimal(str(amount)))} {star}"
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'))} {currency}"


def duration(seconds: float | None, locale: str = "en") -> str:
    """The two largest units, in CLDR's narrow unit names: 1d 2h, 3h 05m, 4m 07s, 5s (ru: 3 ч 05 мин)."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    language = _locale(locale)
    if days:
        return f"{_unit(days, 'day', language)} {_unit(hours, 'hour', language)}"
    if hours:
        return f"{_unit(hours, 'hour', language)} {_unit(f'{minutes:02d}', 'minute', language)}"
    if minutes:
        return f"{_unit(minutes, 'minute', language)} {_unit(f'{secs:02d}', 'second', language)}"
    return _unit(secs, "second", language)


def _unit(value: int | str, unit: str, language: Locale) -> str:
    # A string value is used as written: the zero-padded minutes keep a live ETA from jumping about.
    return format_unit(value, f"duration-{unit}", length="narrow", locale=language)


@cache
def _locale(code: str) -> Locale:
    try:
        return Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")
