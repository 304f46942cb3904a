"""Running an ATCS service as a real process (`python -m services.<name>`) for a test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from common.paths import REPO_ROOT
from tests.support.service_logs import assert_log_clean


def service_env(**values: str) -> dict[str, str]:
    """The test's environment without any ATCS_* the developer's shell may carry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
    env.update({"ATCS_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"})
    env.update(values)
    return env


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.allowed_in_log: list[str] = []   # log lines the test provokes on purpose (check_log)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", f"services.{self.name}"], cwd=REPO_ROOT,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the crash case (nothing gets to clean up)."""
        if self.alive:
            self.process.kill()
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_log(self) -> None:
        """After stop(): no unsupervised failure in the log (tests/support/service_logs.py)."""
        assert_log_clean(self.log_path, self.allowed_in_log)
