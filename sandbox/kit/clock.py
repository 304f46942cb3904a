"""A wall clock that tests can move forward.

Invoices and panel users expire by the calendar. Waiting for real time to pass
would make tests slow and flaky, so every stand-in reads time from a ``Clock``
whose offset the control API (or a test) can advance instantly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            # Time going backwards would let paid/expired objects come back to life.
            raise ValueError("the clock only moves forward")
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        self._offset = timedelta(0)


def iso_ms(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, the way both the Crypto Pay
    API and the Remnawave panel print dates (``2025-01-17T15:38:45.065Z``)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
