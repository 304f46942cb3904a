"""In-process lifecycle shared by every stand-in: start on loopback, report the
URL, stop cleanly.

Binding port 0 lets many tests run stand-ins side by side without port
clashes; ``start()`` returns the real URL afterwards. With ``tls=True`` the
stand-in serves https with a self-signed certificate made at start (as a real
Outline server does, and as 3x-ui and Marzban panels often are); its SHA-256 is
``cert_sha256``.
"""

from __future__ import annotations

import asyncio
from typing import Optional

from aiohttp import web

from sandbox.kit.tls import SelfSigned, self_signed


class StandInServer:
    # Requests still running at stop (e.g. held by a latency fault) are cut
    # after this long, so a test teardown never hangs.
    shutdown_timeout = 1.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self._certificate: Optional[SelfSigned] = None
        self._runner: Optional[web.AppRunner] = None
        self._url: Optional[str] = None

    def build_app(self) -> web.Application:  # pragma: no cover - abstract
        raise NotImplementedError

    async def on_started(self) -> None:
        """Hook for work that needs the bound URL (e.g. a client session)."""

    async def on_stopping(self) -> None:
        """Hook to cancel background work before the listener closes."""

    async def start(self) -> str:
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self._url}")
        if self.tls and self._certificate is None:
            self._certificate = await asyncio.to_thread(self_signed, self.host)
        app = self.build_app()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        context = self._certificate.context if self._certificate is not None else None
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self._url = f"{'https' if self.tls else 'http'}://{self.host}:{bound_port}"
        await self.on_started()
        return self._url

    async def stop(self) -> None:
        if self._runner is None:
            return
        try:
            await self.on_stopping()
        finally:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def url(self) -> str:
        if self._url is None or self._runner is None:
            raise RuntimeError(f"{type(self).__name__} is not running; await start() first")
        return self._url

    @property
    def cert_sha256(self) -> str:
        """SHA-256 of the certificate it serves (64 upper-case hex digits, Outline's certSha256)."""
        if self._certificate is None:
            raise RuntimeError(f"{type(self).__name__} serves no certificate; start it with tls=True")
        return self._certificate.sha256

    @property
    def certificate_pem(self) -> str:
        if self._certificate is None:
            raise RuntimeError(f"{type(self).__name__} serves no certificate; start it with tls=True")
        return self._certificate.pem

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
