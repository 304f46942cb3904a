"""An HTTP endpoint that records what it receives and answers from a script.

Tests use it as the webhook receiver of the Crypto Pay stand-in: it keeps
the exact raw bytes and headers of every request (signatures are computed on
raw bytes), and can be told to fail the next requests (``script(500, 500)``)
or to hang until the caller times out (``script("hang")``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Union

from aiohttp import web

from sandbox.kit.server import StandInServer
from sandbox.kit.waiting import Notifier

Step = Union[int, str]  # an HTTP status, or "hang"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: Union[int, str]


class HttpSink(StandInServer):
    def __init__(self, path: str = "/webhook", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.path = path
        self.received: list[Received] = []
        self._script: deque[Step] = deque()
        self._changed = Notifier()
        self._release = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return f"{self.url}{self.path}"

    def script(self, *steps: Step) -> None:
        """Answers for the next requests, in order; afterwards 200."""
        self._script.extend(steps)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", self.path, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        step: Step = self._script.popleft() if self._script else 200
        self.received.append(Received(request.method, request.path, dict(request.headers), body, step))
        await self._changed.notify()
        if step == "hang":
            # Held until the sink stops; the sender's timeout fires first.
            await self._release.wait()
            return web.Response(status=503)
        return web.json_response({"ok": 200 <= int(step) < 300}, status=int(step))

    async def on_started(self) -> None:
        self._release = asyncio.Event()

    async def on_stopping(self) -> None:
        self._release.set()

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        return await self._changed.wait_for(lambda: len(self.received) >= count, timeout)
