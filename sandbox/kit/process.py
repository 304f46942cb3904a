"""Start a stand-in as a child process and learn its URLs.

The ``python -m sandbox...`` entry points print one JSON line once they
listen; reading that line (with a deadline) is the readiness signal, so
nothing has to sleep and hope the port is open.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class StandInProcess:
    def __init__(
        self, module: str, *args: str, startup_timeout: float = 15.0, env: dict[str, str] | None = None
    ) -> None:
        self.module = module
        self.args = args
        self.startup_timeout = startup_timeout
        self.env = env  # None: inherit this process's environment
        self.proc: asyncio.subprocess.Process | None = None
        self.info: dict = {}

    async def start(self) -> dict:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.module, *self.args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), self.startup_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise RuntimeError(f"{self.module} did not report readiness in {self.startup_timeout}s") from None
        if not line:
            stderr = (await self.proc.stderr.read()).decode(errors="replace")
            await self.stop()
            raise RuntimeError(f"{self.module} exited before listening:\n{stderr}")
        self.info = json.loads(line)
        return self.info

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), timeout)
        return self.proc.returncode

    async def __aenter__(self) -> "StandInProcess":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
