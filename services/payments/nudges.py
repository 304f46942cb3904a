""""Look now" to vpn_gateway and bot after a commit: best effort, coalesced, off the request path.

The rows are already committed; a lost nudge only costs the peers' periodic scan interval. So a
webhook never waits on this: `poke()` just raises flags, and one background task sends at most
one nudge per peer at a time, folding any pokes that arrive meanwhile into the next one.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from common.contract.bot import NUDGE_NOTIFICATIONS, NudgeNotifications
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS, Nudge
from common.ipc.client import RpcClient
from common.ipc.errors import RpcError

log = logging.getLogger(__name__)


class Nudger:
    def __init__(self, client_for: Callable[[str], RpcClient], timeout: float) -> None:
        self._client_for = client_for
        self._timeout = timeout
        self._activations = False
        self._notifications = False
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def poke(self, *, activations: bool = False, notifications: bool = False) -> None:
        self._activations |= activations
        self._notifications |= notifications
        if activations or notifications:
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            calls = []
            if self._activations:
                self._activations = False
                calls.append(self._send("vpn_gateway", NUDGE_ACTIVATIONS, Nudge()))
            if self._notifications:
                self._notifications = False
                calls.append(self._send("bot", NUDGE_NOTIFICATIONS, NudgeNotifications()))
            await asyncio.gather(*calls)

    async def _send(self, peer: str, method, body) -> None:
        try:
            await self._client_for(peer).call(method, body, timeout=self._timeout)
            self.sent += 1
        except RpcError as exc:
            # The peer may be down or restarting: its periodic scan will find the rows.
            self.failed += 1
            log.debug("nudge not delivered", extra={"peer": peer, "error": str(exc)})
