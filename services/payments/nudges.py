""""Look now" to vpn_gateway and bot after a commit: best effort, coalesced, off the request path.

The rows are already committed; a lost nudge only costs the peer's periodic scan interval. So a
webhook never waits on this: `poke()` just sets a flag, and one background loop per peer sends at
most one nudge at a time, folding the pokes that arrive meanwhile into the next one. A peer that
does not answer is left alone for a growing while (up to 10 s) instead of being hammered with
sockets and timeouts on every payment.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pydantic import BaseModel

from common.contract.base import Method
from common.contract.bot import NUDGE_NOTIFICATIONS, NudgeNotifications
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS, Nudge
from common.ipc.client import RpcClient
from common.ipc.errors import RpcError

log = logging.getLogger(__name__)
MAX_BACKOFF = 10.0


class _Peer:
    def __init__(self, name: str, method: Method, body: BaseModel, client_for: Callable[[str], RpcClient],
                 timeout: float) -> None:
        self.name = name
        self._method = method
        self._body = body
        self._client_for = client_for
        self._timeout = timeout
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._client_for(self.name).call(self._method, self._body, timeout=self._timeout)
                self.sent += 1
                backoff = 0.0
            except RpcError as exc:
                self.failed += 1
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                log.debug("nudge not delivered", extra={"peer": self.name, "error": str(exc), "quiet_for": backoff})
                # Pokes during this pause are kept (the event stays set) and sent as one afterwards.
                await asyncio.sleep(backoff)


class Nudger:
    def __init__(self, client_for: Callable[[str], RpcClient], timeout: float) -> None:
        self._vpn_gateway = _Peer("vpn_gateway", NUDGE_ACTIVATIONS, Nudge(), client_for, timeout)
        self._bot = _Peer("bot", NUDGE_NOTIFICATIONS, NudgeNotifications(), client_for, timeout)

    def poke(self, *, activations: bool = False, notifications: bool = False) -> None:
        if activations:
            self._vpn_gateway.poke()
        if notifications:
            self._bot.poke()

    async def run(self) -> None:
        await asyncio.gather(self._vpn_gateway.run(), self._bot.run())

    @property
    def sent(self) -> int:
        return self._vpn_gateway.sent + self._bot.sent

    @property
    def failed(self) -> int:
        return self._vpn_gateway.failed + self._bot.failed
