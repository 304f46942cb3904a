"""Best-effort "look now" to peers after a commit (bot: notifications; vpn_gateway: activations).

Coalesced, and sent from one task: a job that wrote a thousand rows asks once, and never waits
for a peer that is down — its periodic scan finds the rows anyway (DESIGN.md, rule 1).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from common.contract.base import Method
from common.contract.bot import NUDGE_NOTIFICATIONS
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS
from common.ipc import RpcClient, RpcError

log = logging.getLogger(__name__)
PEER_NUDGES: dict[str, Method] = {"bot": NUDGE_NOTIFICATIONS, "vpn_gateway": NUDGE_ACTIVATIONS}


class Nudger:
    def __init__(self, client: Callable[[str], RpcClient], timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._wanted: set[str] = set()
        self._event = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def request(self, service: str) -> None:
        if service not in PEER_NUDGES:
            raise ValueError(f"no nudge for {service}")
        self._wanted.add(service)
        self._event.set()

    async def run(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            wanted, self._wanted = self._wanted, set()
            await asyncio.gather(*(self._nudge(service) for service in sorted(wanted)))

    async def _nudge(self, service: str) -> None:
        try:
            await self._client(service).call(PEER_NUDGES[service], timeout=self._timeout)
            self.sent += 1
        except RpcError as exc:
            self.failed += 1
            log.debug("nudge not delivered", extra={"peer": service, "error": str(exc)})
