"""The scheduler as a real process (`python -m services.scheduler`), for restart and SIGKILL
tests and for measuring its memory."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import zmq.asyncio

from common.paths import REPO_ROOT
from common.contract.core import STATUS
from common.ipc import RpcClient, RpcError
from tests.support.ports import free_port
from tests.support.service_logs import assert_log_clean
from tests.support.wait import wait_for

ADMIN_ID = 900001


class SchedulerProcess:
    def __init__(self, database_url: str, telegram_url: str, token: str, *, run_dir: Path | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None) -> None:
        self._own_dir = run_dir is None
        self.run_dir = run_dir or Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))
        os.chmod(self.run_dir, 0o700)
        self.health_port = free_port()
        self.log_path = log_path or self.run_dir / "scheduler.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
        self.env.update({
            "ATCS_DATABASE_URL": database_url,
            "ATCS_BOT_TOKEN": token,
            "ATCS_TELEGRAM_API_URL": telegram_url,
            "ATCS_RUN_DIR": str(self.run_dir),
            "ATCS_HEALTH_PORT_SCHEDULER": str(self.health_port),
            "ATCS_ADMIN_IDS": str(ADMIN_ID),
            "ATCS_LOG_FORMAT": "json",
            "ATCS_LEADER_RETRY_INTERVAL": "0.3",
            "ATCS_LEADER_CHECK_INTERVAL": "0.3",
            "ATCS_BACKUP_ENABLED": "false",
            "PYTHONWARNINGS": "always::ResourceWarning",
            **(env or {}),
        })
        self.process: subprocess.Popen | None = None
        self.allowed_in_log: list[str] = []   # log lines the test provokes on purpose (check_log)
        self._zmq = zmq.asyncio.Context()
        self._client: RpcClient | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.scheduler"], cwd=REPO_ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def client(self) -> RpcClient:
        if self._client is None:
            self._client = RpcClient(self._zmq, f"ipc://{self.run_dir}/scheduler.ipc", default_timeout=3.0,
                                     attempt_timeout=0.5)
        return self._client

    async def status(self) -> dict[str, Any] | None:
        try:
            return (await self.client().call(STATUS, timeout=1.0)).model_dump()
        except RpcError:
            return None

    async def pool_connected(self) -> bool:
        """Answers, and its pool is connected: an RPC that reads the database before that is
        refused as `unavailable` (as it should be), which a test must not mistake for a failure."""
        status = await self.status()
        return bool(status and "database" not in status["details"]["not_ready"])

    async def is_leader(self) -> bool:
        """Leader, and its pool connected: the leader lock has a connection of its own, so a test
        that calls a job's RPC on leadership alone may find the pool not connected yet."""
        status = await self.status()
        return bool(status and status["details"].get("leader", {}).get("role") == "leader"
                    and "database" not in status["details"]["not_ready"])

    async def role(self) -> str | None:
        status = await self.status()
        return status["details"].get("leader", {}).get("role") if status else None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or the OOM killer."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    async def terminate(self, timeout: float = 15) -> int:
        """SIGTERM and wait without blocking the loop: the stand-in in this process must keep
        answering the requests the scheduler finishes while it drains."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await wait_for(lambda: self.process.poll() is not None, timeout=timeout, message="scheduler exit")
            except AssertionError:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def peak_rss_kb(self) -> int:
        """VmHWM: the highest resident set size the process has had (kernel-tracked, no sampling)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_log(self) -> None:
        """After close(): no unsupervised failure in the log (tests/support/service_logs.py)."""
        assert_log_clean(self.log_path, self.allowed_in_log)

    async def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            await self.terminate()
        if self._client is not None:
            self._client.close()
        self._zmq.destroy(linger=0)

    def remove_run_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
