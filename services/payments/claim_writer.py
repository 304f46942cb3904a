"""Claims of concurrent webhook requests written together (group commit).

Each webhook must not answer 200 before its claim is durable, and each commit waits for a flush to
disk. One INSERT and one commit for every request waiting at that moment costs one flush for all of
them, and one pool connection instead of one each (settlement and RPCs need the others).

No task of its own: a request that finds nobody writing writes its own claim and those waiting, then
hands the pen to the next waiting request, so no request writes for longer than one batch.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from common.db.database import Database, DatabaseUnavailable
from services.payments.repositories import claims
from services.payments.repositories.claims import NewClaim

MAX_BATCH = 500
_YOUR_TURN = object()


@dataclass(eq=False)
class _Waiting:
    claim: NewClaim
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ClaimWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: deque[_Waiting] = deque()
        self._writing = False

    async def record(self, claim: NewClaim) -> bool:
        """True for a claim not seen before; raises DatabaseUnavailable when it could not be stored."""
        me = _Waiting(claim)
        self._queue.append(me)
        if self._writing:
            try:
                answer: Any = await me.answer
            except asyncio.CancelledError:
                if me.answer.done() and not me.answer.cancelled() and me.answer.exception() is None \
                        and me.answer.result() is _YOUR_TURN:
                    self._pass_the_pen()  # handed the pen just as we were cancelled: hand it on
                raise
            if answer is not _YOUR_TURN:
                return bool(answer)
        self._writing = True
        self._queue.remove(me)
        others = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH - 1))]
        try:
            try:
                async with self.db.acquire() as conn:
                    new = await claims.record_many(conn, [me.claim] + [w.claim for w in others])
            except BaseException as exc:
                failure = exc if isinstance(exc, DatabaseUnavailable) else DatabaseUnavailable("claim not stored")
                for waiting in others:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(failure)
                raise
            for waiting, is_new in zip(others, new[1:]):
                if not waiting.answer.done():
                    waiting.answer.set_result(is_new)
            return new[0]
        finally:
            self._pass_the_pen()

    def _pass_the_pen(self) -> None:
        while self._queue and self._queue[0].answer.done():
            # Its request was cancelled before its turn: never answered, so Crypto Pay delivers again.
            self._queue.popleft()
        if self._queue:
            self._queue[0].answer.set_result(_YOUR_TURN)
        else:
            self._writing = False
