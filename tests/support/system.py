"""The whole system under a real supervisord, from the repository's own supervisord.conf.

The config is copied into a temporary folder so that logs, sockets and pid files of a test never
touch var/ of a developer's running instance; only the interpreter path and working directory
are rewritten. Services get a fresh database, short run dir and free ports through the
environment, as an operator would give them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from supervisor.xmlrpc import SupervisorTransport

from common.paths import REPO_ROOT
from common.settings.ipc import SERVICES
from common.ipc.client import RpcClient
from tests.support.ports import free_port
from tests.support.service_logs import assert_no_unsupervised_failure, read_logs
from tests.support.wait import wait_for_sync


class System:
    def __init__(self, database_url: str, extra_env: dict[str, str] | None = None,
                 extra_programs: str = "", allow_in_logs: Iterable[str] = ()) -> None:
        """allow_in_logs: patterns of log lines the test provokes on purpose (see check_logs)."""
        self.allowed_in_logs = list(allow_in_logs)
        self.dir = Path(tempfile.mkdtemp(prefix="atcs-sys-"))
        self.run_dir = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
        os.chmod(self.run_dir, 0o700)
        self.health_ports = {service: free_port() for service in SERVICES}
        self.payments_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
        self.env.update({
            "ATCS_DATABASE_URL": database_url,
            "ATCS_RUN_DIR": str(self.run_dir),
            "ATCS_PAYMENTS_PORT": str(self.payments_port),
            "PYTHONWARNINGS": "always::ResourceWarning",
            "ATCS_LOG_FORMAT": "json",
            **{f"ATCS_HEALTH_PORT_{s.upper()}": str(p) for s, p in self.health_ports.items()},
        })
        self.env.update(extra_env or {})
        text = (REPO_ROOT / "supervisord.conf").read_text()
        text = text.replace("%(here)s/.venv/bin/python", sys.executable)
        text = text.replace("directory=%(here)s\n", f"directory={REPO_ROOT}\n")
        (self.dir / "supervisord.conf").write_text(text)
        (self.dir / "var" / "log").mkdir(parents=True)
        (self.dir / "var" / "run" / "supervisord.d").mkdir(parents=True)
        if extra_programs:
            (self.dir / "var" / "run" / "supervisord.d" / "extra.conf").write_text(extra_programs)
        self.conf = self.dir / "supervisord.conf"
        self.socket = self.dir / "var" / "run" / "supervisor.sock"
        self.zmq = zmq.asyncio.Context()

    # supervisord ---------------------------------------------------------------------------
    def launch(self) -> None:
        supervisord = Path(sys.executable).parent / "supervisord"
        subprocess.run([str(supervisord), "-c", str(self.conf)], env=self.env, check=True, cwd=REPO_ROOT)

    def start(self, timeout: float = 30.0) -> None:
        """Launches supervisord and returns once every service serves: RUNNING only means alive
        for startsecs, and on a loaded machine a service may still be importing then. /healthz
        answers once the RPC socket is bound (the runner binds it first)."""
        self.launch()
        deadline = time.monotonic() + timeout
        wait_for_sync(lambda: self.all_running(), timeout=timeout, interval=0.1,
                      message="every program RUNNING")
        for service in SERVICES:
            wait_for_sync(lambda: self.alive(service), timeout=max(1.0, deadline - time.monotonic()),
                          interval=0.1, message=f"{service} serving /healthz")

    def alive(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(self.health_url(service, "/healthz"), timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def server(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{self.socket}"))

    def processes(self) -> dict[str, dict[str, Any]]:
        return {f"{p['group']}:{p['name']}" if p["group"] != p["name"] else p["name"]: p
                for p in self.server().supervisor.getAllProcessInfo()}

    def all_running(self) -> bool:
        try:
            infos = self.processes()
        except OSError:
            return False
        return all(p["statename"] == "RUNNING" for n, p in infos.items() if not n.startswith("migrate")) and \
            infos.get("migrate", {}).get("statename") == "EXITED"

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=self.env)

    def pid(self, service: str) -> int:
        return int(self.processes()[f"atcs:{service}"]["pid"])

    def log(self, name: str) -> str:
        path = self.dir / "var" / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def supervisord_log(self) -> str:
        return (self.dir / "var" / "log" / "supervisord.log").read_text(errors="replace")

    def shutdown(self) -> None:
        try:
            self.server().supervisor.shutdown()
        except OSError:
            pass
        else:
            wait_for_sync(lambda: not self.socket.exists(), timeout=40, message="supervisord gone")
        self.zmq.destroy(linger=0)

    def check_logs(self) -> None:
        """No program left a task's exception unretrieved, a task pending or a traceback (issue 10.4)."""
        assert_no_unsupervised_failure(read_logs(self.dir / "var" / "log"), self.allowed_in_logs)

    def cleanup(self) -> None:
        """Checks the logs (after shutdown(), so that what happens at exit is in them), then removes
        the system's folders whatever the check found: its failure quotes the lines."""
        try:
            self.check_logs()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # services ------------------------------------------------------------------------------
    def client(self, service: str) -> RpcClient:
        return RpcClient(self.zmq, f"ipc://{self.run_dir}/{service}.ipc", default_timeout=2.0, attempt_timeout=0.3)

    def health_url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.health_ports[service]}{path}"


def wait_exit(seconds: float) -> float:
    return time.monotonic() + seconds
