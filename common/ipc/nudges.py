""""Look now" to a peer after a commit: best effort, coalesced, never on the request path.

The rows are already committed (DESIGN.md, rule 1); a lost nudge only costs the peer's periodic scan
interval. `nudge()` just sets a flag, and one loop per peer sends at most one call at a time, folding
the nudges that arrive meanwhile into the next one: a job that wrote a thousand rows asks once. A peer
that does not answer is left alone for a growing while (up to 10 s) instead of being hammered with
sockets and timeouts on every commit.
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
# Who can be nudged, and with what: the bot sends notifications, vpn_gateway works off activations.
PEER_NUDGES: dict[str, tuple[Method, BaseModel]] = {
    "bot": (NUDGE_NOTIFICATIONS, NudgeNotifications()),
    "vpn_gateway": (NUDGE_ACTIVATIONS, Nudge()),
}


class _Peer:
    def __init__(self, name: str, client_for: Callable[[str], RpcClient], timeout: float) -> None:
        self.name = name
        self._method, self._body = PEER_NUDGES[name]
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
                # Nudges during this pause are kept (the event stays set) and sent as one afterwards.
                await asyncio.sleep(backoff)


class PeerNudges:
    """Nudges to `peers`; `run()` is the service's supervised task."""

    def __init__(self, client_for: Callable[[str], RpcClient], timeout: float, peers: tuple[str, ...]) -> None:
        self._peers = {name: _Peer(name, client_for, timeout) for name in peers}

    def nudge(self, *peers: str) -> None:
        for name in peers:
            self._peers[name].poke()

    async def run(self) -> None:
        # A task group, not gather: if one peer's loop fails, the others are cancelled with it and
        # the supervisor restarts them all, instead of leaving them running unowned beside the restart.
        async with asyncio.TaskGroup() as group:
            for peer in self._peers.values():
                group.create_task(peer.run(), name=f"nudge-{peer.name}")

    @property
    def sent(self) -> int:
        return sum(peer.sent for peer in self._peers.values())

    @property
    def failed(self) -> int:
        return sum(peer.failed for peer in self._peers.values())
