"""The users a panel stand-in keeps, refreshed against the panel's clock whenever one is read:
a panel switches a user off at expiry or at its traffic limit on its own, so a read shows it."""
from __future__ import annotations

from datetime import datetime
from typing import Generic, Protocol, TypeVar

from sandbox.kit.clock import Clock


class Refreshing(Protocol):
    def refresh(self, now: datetime) -> None: ...


Key = TypeVar("Key")
User = TypeVar("User", bound=Refreshing)


class ClockedUsers(Generic[Key, User]):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._users: dict[Key, User] = {}

    def reset(self) -> None:
        self._users.clear()

    def __len__(self) -> int:
        return len(self._users)

    def _fresh(self, user: User) -> User:
        user.refresh(self._clock.now())
        return user

    def all(self) -> list[User]:
        return [self._fresh(u) for u in self._users.values()]
