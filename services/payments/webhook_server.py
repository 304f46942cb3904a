"""The webhook's HTTP listener inside the payments process, and its graceful stop: on SIGTERM
the listening socket closes first, requests already in flight finish (bounded), then it exits."""
from __future__ import annotations

from aiohttp import web

from common.settings.base import ConfigError


class WebhookServer:
    def __init__(self, app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False,
                               shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, reuse_address=True).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"ATCS_PAYMENTS_PORT: cannot listen on {self._host}:{self._port}: {exc.strerror}") from None
        self._runner = runner

    @property
    def listening(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        assert self._runner is not None
        return self._runner.addresses[0][1]

    async def drain(self) -> None:
        """Stop accepting, let in-flight requests finish within the shutdown bound, close."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
